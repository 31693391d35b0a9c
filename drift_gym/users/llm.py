"""An LLM playing the user, from the prompt template in ``simulators/prompts/simulator.txt``.

The model sees the goal (persona, stance, the ordered requests), the request the environment
is at, and — with UGST steering — the tracked goal state of the conversation so far, so it
can repair what it forgot. Roles are flipped: the agent's messages are the model's "user"
turns. It ends the conversation by writing ``###STOP###``. Its drift is not known in advance:
`UserTurn.injected` is empty and the tracker has to find it.
"""

from __future__ import annotations

from typing import Any

from ..models import ChatModel
from ..placeholders import render
from .base import STOP, UserTurn
from .goal import SUCCESS, GoalState, UserGoal
from .tracker import GoalTracker
from .tracker_lexical import LexicalTracker


def state_summary(goal: UserGoal, state: GoalState | None, upto: int) -> str:
    """The goal state as steering text: what is still missing or has gone wrong."""
    if state is None:
        return "Nothing said yet."
    lines = []
    for component in goal.components(upto=upto):
        status = state.statuses.get(component)
        if status is not None and status not in SUCCESS and not component.startswith(
                "objective."):
            slot = goal.slot(component)
            lines.append(f"- {component} is {status}: you should convey “"
                         f"{slot.say(slot.value).strip()}”")
    for event in state.events:
        lines.append(f"- earlier drift ({event.type}) on {event.component}: repair it")
    return "\n".join(lines) or "Everything so far is consistent with your goal."


def system_prompt(template: str, goal: UserGoal, objective: int, steering: str) -> str:
    """The simulator's system prompt: the goal, the request the environment is at, and the
    steering text (or "(not provided)")."""
    if objective < len(goal.objectives):
        target = goal.objectives[objective]
        current = (f"Request {objective + 1} of {len(goal.objectives)}: {target.title}. "
                   "If you have not asked for it yet, ask for it now (with its "
                   "requirements and your preferences); otherwise answer the assistant.")
    else:
        current = (f"All your requests are done. Thank the assistant and end the "
                   f"conversation with {STOP}.")
    return render(template, {"GOAL": goal.to_text(), "CURRENT": current, "STATE": steering,
                             "STOP": STOP}, where="prompts/simulator.txt")


def chat_messages(system: str, conversation: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The model-side chat with roles flipped (the agent's messages are the model's "user"
    turns), ending on a user message so the model writes the next user line. Shared by the
    LLM simulator and the simulator training rows, so a trained checkpoint sees in use
    exactly what it saw in training."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    flip = {"user": "assistant", "assistant": "user"}
    for message in conversation:
        if message.get("role") in flip:
            messages.append({"role": flip[message["role"]], "content": message["content"]})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": (
            "(You start the conversation: write your first message.)"
            if len(messages) == 1 else "(Write your next message.)")})
    return messages


class LLMSimulator:
    """A ChatModel as the user; `steer` adds the tracked goal state to its prompt."""

    ground_truth = False
    """Its drift is whatever it writes: nothing to score a tracker against."""

    def __init__(self, model: ChatModel, *, steer: bool = False, prompt: str | None = None,
                 tracker: GoalTracker | None = None) -> None:
        from .catalog import load_prompt

        self.model = model
        self.steer = steer
        self.prompt = prompt if prompt is not None else load_prompt("simulator")
        self.tracker = tracker or LexicalTracker()
        self.name = model.name + ("+steer" if steer else "")

    def reset(self, goal: UserGoal, *, seed: int) -> None:
        self.goal = goal
        self.seed = seed
        self._turn = 0

    def system_prompt(self, conversation: list[dict[str, str]], objective: int) -> str:
        steering = "(not provided)"
        if self.steer:
            users = sum(m.get("role") == "user" for m in conversation)
            state = (self.tracker.update(self.goal, conversation, users - 1) if users else None)
            steering = state_summary(self.goal, state, objective)
        return system_prompt(self.prompt, self.goal, objective, steering)

    def turn(self, conversation: list[dict[str, str]], *, objective: int) -> UserTurn:
        messages = chat_messages(self.system_prompt(conversation, objective), conversation)
        reply = self.model.complete(messages, tools=None, seed=self.seed, step=self._turn)
        self._turn += 1
        stop = STOP in reply.content
        text = reply.content.replace(STOP, "").strip()
        return UserTurn(text=text or "(ends the conversation)", stop=stop)
