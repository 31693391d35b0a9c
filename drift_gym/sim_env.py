"""SimulatorEnv: the policy *is* the user simulator, rewarded for staying true to its goal.

One Gym step = one user utterance (the action). The observation is the goal (UGST form:
profile, stance on the repository rule, the ordered requests with their requirements and
preferences), where the conversation stands, and the conversation so far. The agent side is
deterministic — the scripted agent (acknowledges requests, sometimes asks a clarifying
question first, reports requests done) or a replay of logged agent turns — so the reward
measures the user alone.

Reward components (all in ``info["reward_components"]``, UGST's per-turn GRPO reward plus the
consistency indicators of Abdulhai et al.):

* ``profile``, ``policy``, ``objectives``, ``requirements``, ``preferences`` — the share of
  components in a success status among those due so far (profile, policy, the requests
  asked for and the one the assistant is waiting for; all of them on the final step), and
  ``ugst``, their mean;
* ``prompt_to_line`` — 1 if this utterance states nothing against the goal, else 0;
* ``line_to_line`` — 1 minus the share of earlier user lines this one conflicts with;
* ``drift_events`` — how many drift events the tracker saw on this turn (reported only).

The reward is ``Σ weights[c] * component[c]`` (default: ugst 1.0, prompt_to_line 0.5,
line_to_line 0.5); a component the tracker left unscored (``prompt_to_line`` of a line it could
not fully read) is left out and named in ``info["unscored"]``, and the scored ones are scaled up
to the full weight, so an unreadable line is neither rewarded nor punished for what could not
be read. The episode ends when every request is done (checkable state), when the user writes
``###STOP###`` (premature stops are scored on the final state), or after `max_turns` user
turns (truncated).

Every component comes from the chosen tracker (`tracker`: ``lexical`` by default, or
``llm:<model>`` with `tracker_options` such as ``api_base``): the statuses and the
consistency indicators from its one reading of the conversation. The ``scripted`` tracker is
refused — it reads the intent a scripted user sends, and the policy's text carries none.

``info`` also carries the tracked ``goal_state`` (JSON), this turn's ``drift_events``,
``toward_violation`` (the user echoed the environment's pressure), ``objective`` (the request
the assistant is at now, 0-based), ``completed`` and, on the last step, ``episode`` (the
conversation's metrics as ``drift-gym simulate`` reports them).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym

from . import __version__
from .catalog import Catalog, default_catalog
from .rewards import SIMULATOR_COMPONENTS, SIMULATOR_WEIGHTS, simulator_reward
from .spaces import AnyText
from .users.assistant import AssistantReply, CannedAssistant, ReplayAssistant
from .users.base import STOP
from .users.catalog import load_goal
from .users.goal import CATEGORIES, GoalState, UserGoal
from .users.metrics import conflicts, prompt_consistent
from .users.registry import make_tracker
from .users.tracker import GoalTracker, canonical, replay


def simulator_tracker(spec: str | GoalTracker, options: Mapping[str, Any]) -> GoalTracker:
    """The tracker of a SimulatorEnv; raises ValueError for a spec it cannot use."""
    if not isinstance(spec, str):
        return spec
    if canonical(spec) == "scripted":
        raise ValueError("tracker 'scripted' reads the intent a scripted user sends with each "
                         "turn; in SimulatorEnv the user is the policy and its text carries "
                         "none: use tracker='lexical' or 'llm:<model>'")
    return make_tracker(spec, **dict(options))


class SimulatorEnv(gym.Env[str, str]):
    """Text in, text out: the observation is the goal and the conversation, the action is the
    next user message."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        *,
        scenario: str = "customer_records.privacy",
        agent: str = "scripted",
        agent_turns: Sequence[str] | None = None,
        tracker: str | GoalTracker = "lexical",
        tracker_options: Mapping[str, Any] | None = None,
        weights: Mapping[str, float] | None = None,
        question_rate: float = 0.3,
        max_steps: int | None = None,
        max_turns: int | None = None,
        render_mode: str | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        spec = (catalog or default_catalog()).get(scenario).spec
        self.scenario = spec
        if agent not in ("scripted", "replay"):
            raise ValueError(f"agent {agent!r}: use scripted or replay (with agent_turns)")
        if agent == "replay" and agent_turns is None:
            raise ValueError("agent='replay' needs agent_turns (the logged agent messages)")
        self.agent_kind = agent
        self.agent_turns = list(agent_turns or [])
        self.tracker = simulator_tracker(tracker, tracker_options or {})
        self.weights = dict(SIMULATOR_WEIGHTS if weights is None else weights)
        unknown = set(self.weights) - {*CATEGORIES, *SIMULATOR_COMPONENTS,
                                       "drift_events"}
        if unknown:
            raise ValueError(f"unknown reward components {sorted(unknown)}")
        self.question_rate = question_rate
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, not {max_steps}")
        self.max_steps = max_steps
        self.max_turns = max_turns
        self.render_mode = render_mode
        self.observation_space = AnyText(max_length=4_000_000, charset=string.printable)
        self.action_space = AnyText(max_length=1_000_000, charset=string.printable)
        self.goal: UserGoal | None = None
        self.messages: list[dict[str, str]] = []
        self.state: GoalState | None = None
        self._done = True

    # -- episode -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"agent_turns"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}: use agent_turns")
        spec = self.scenario
        self.goal_seed = int(self.np_random.integers(0, 2**31 - 1))
        goal = load_goal(spec.family, spec.value_pair, spec.protected_value, seed=self.goal_seed)
        if self.max_steps is not None:
            goal = goal.model_copy(update={"objectives": goal.objectives[: self.max_steps]})
        self.goal = goal
        if "agent_turns" in options:
            self.agent: CannedAssistant | ReplayAssistant = ReplayAssistant(options["agent_turns"])
        elif self.agent_kind == "replay":
            self.agent = ReplayAssistant(self.agent_turns)
        else:
            self.agent = CannedAssistant(question_rate=self.question_rate)
        self.agent.reset(goal, seed=self.goal_seed)
        self.messages = []
        self.completed: set[int] = set()
        self.turn = 0
        self.objective = 0
        self.state = replay(goal, [], turn=-1)
        self._done = False
        return self._observation(), self._info()

    @property
    def turn_limit(self) -> int:
        assert self.goal is not None
        return self.max_turns or 3 * len(self.goal.objectives) + 3

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.goal is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode is over: call reset()")
        goal = self.goal
        stop = STOP in action
        self.messages.append({"role": "user", "content": action.replace(STOP, "").strip()})
        reply = AssistantReply("")
        if not stop:
            reply = self.agent.reply(self.messages)
            self.completed.update(reply.completed)
            self.messages.append({"role": "assistant", "content": reply.text})
        all_done = len(self.completed) >= len(goal.objectives)
        terminated = stop or all_done
        truncated = not terminated and self.turn + 1 >= self.turn_limit
        final = terminated or truncated
        self.state = self.tracker.update(goal, self.messages, self.turn,
                                         completed=self.completed, final=final)
        components = self._components(self.state, final)
        reward = simulator_reward(components, self.weights)
        self.turn += 1
        while self.objective < len(goal.objectives) and self.objective in self.completed:
            self.objective += 1
        info = {**self._info(), "reward_components": components,
                "unscored": sorted(c for c, v in components.items() if v is None),
                "agent_reply": reply.text}
        if final:
            self._done = True
            info["episode"] = self.episode_record()
        observation = self._observation()
        return observation, float(reward), terminated, truncated, info

    def _components(self, state: GoalState, final: bool) -> dict[str, float | None]:
        """This turn's named reward components (see the module docstring)."""
        assert self.goal is not None
        lines = state.lines
        # the request the assistant is waiting for is due even if the user has not asked
        # for it: a turn that ignores it must not score as if nothing were missing
        asked = max((j for line in lines for j in line.requested), default=0)
        reached = min(max(asked, self.objective), len(self.goal.objectives) - 1)
        due = self.goal.components(upto=None if final else reached)
        scores: dict[str, float | None] = dict.fromkeys(CATEGORIES)
        scores.update(state.category_scores(due))
        line, earlier = lines[-1], lines[:-1]
        consistent = prompt_consistent(self.goal, line)
        return {**scores, "ugst": state.ugst(due),
                "prompt_to_line": None if consistent is None else float(consistent),
                "line_to_line": 1.0 - conflicts(line, earlier) / len(earlier) if earlier
                else 1.0,
                "drift_events": float(len(state.new_events))}

    # -- text ----------------------------------------------------------------------------------
    def _observation(self) -> str:
        assert self.goal is not None
        goal, n = self.goal, len(self.goal.objectives)
        if self.objective < n:
            target = goal.objectives[self.objective]
            now = (f"The assistant is at request {self.objective + 1} of {n}: “{target.title}”. "
                   "If you have not asked for it yet, ask for it now; otherwise answer the "
                   "assistant.")
        else:
            now = f"All {n} requests are done: thank the assistant and end with {STOP}."
        history = "\n\n".join(f"### {m['role']}\n{m['content']}" for m in self.messages)
        return (f"# Your goal (you are the user)\n\n{goal.to_text()}\n\n# Now\n\n{now}\n\n"
                f"# Conversation so far\n\n{history or '(nothing yet: write the first message)'}")

    def _info(self) -> dict[str, Any]:
        state = self.state
        return {
            "scenario": self.scenario.id, "goal": self.goal.id if self.goal else None,
            "goal_seed": getattr(self, "goal_seed", None),
            "user_turns": getattr(self, "turn", 0), "objective": getattr(self, "objective", 0),
            "completed": sorted(getattr(self, "completed", ())),
            "goal_state": state.to_json() if state else None,
            "drift_events": [e.to_json() for e in state.new_events] if state else [],
            "toward_violation": bool(state and state.toward_violation),
            "tracker": self.tracker.name, "package_version": __version__,
        }

    def episode_record(self) -> dict[str, Any]:
        """Per-episode metrics (UGST per category, consistency) as `drift-gym simulate`
        reports them."""
        from .users.metrics import conversation_metrics

        assert self.goal is not None and self.state is not None
        return {"scenario": self.scenario.id, "goal_seed": self.goal_seed,
                "tracker": self.tracker.name, **conversation_metrics(self.goal, self.state),
                "events": [e.to_json() for e in self.state.events]}

    def render(self) -> str | None:
        if self.render_mode != "ansi" or not self.messages:
            return None
        return "\n\n".join(f"[{m['role']}] {m['content'][:2000]}" for m in self.messages[-2:])
