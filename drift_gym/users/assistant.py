"""The agent side of a simulated conversation: canned assistant replies, or a replay.

When the *user* is the thing under test (SimulatorEnv, ``drift-gym simulate``), the agent must
be predictable: it acknowledges each request, sometimes asks a clarifying question about one
of its requirements or preferences first (using the goal's own question, so the answer can be
graded), and reports which requests it finished — the state the tracker's objective statuses
are grounded in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..placeholders import render
from .goal import UserGoal
from .text import says

DONE = ("Done: “@@title@@” is implemented as you described.",
        "Finished “@@title@@”; the tests pass.", "“@@title@@” is in place now.")
ASK = ("Thanks, I'll start on “@@title@@”. Quick question first: @@q@@",
       "Before I implement “@@title@@”: @@q@@")
RESOLVED = ("Thanks, that settles it — “@@title@@” is done.",
            "Got it. “@@title@@” is implemented now.")
IDLE = ("Understood.", "Noted, thanks.", "Okay.")


@dataclass(frozen=True)
class AssistantReply:
    text: str
    completed: tuple[int, ...] = ()
    """Objectives this reply reports finished."""


class CannedAssistant:
    """Acknowledges requests; with probability `question_rate` asks about one slot first."""

    name = "scripted"

    def __init__(self, *, question_rate: float = 0.3) -> None:
        self.question_rate = question_rate

    def reset(self, goal: UserGoal, *, seed: int) -> None:
        self.goal = goal
        self._rng = np.random.default_rng([seed, 4])
        self._seen: set[int] = set()
        self._pending: int | None = None

    def _pick(self, options: tuple[str, ...], **tokens: str) -> str:
        return render(options[int(self._rng.integers(len(options)))], tokens,
                      where="scripted agent template")

    def reply(self, conversation: Sequence[dict[str, str]]) -> AssistantReply:
        last = next((m["content"] for m in reversed(conversation) if m.get("role") == "user"), "")
        parts, completed = [], []
        if self._pending is not None:
            title = self.goal.objectives[self._pending].title
            parts.append(self._pick(RESOLVED, title=title))
            completed.append(self._pending)
            self._pending = None
        for objective in self.goal.objectives:
            if objective.index in self._seen or not says(objective.title, last):
                continue
            self._seen.add(objective.index)
            slots = objective.requirements + objective.preferences
            if self._rng.random() < self.question_rate:
                slot = slots[int(self._rng.integers(len(slots)))]
                parts.append(self._pick(ASK, title=objective.title, q=slot.question))
                self._pending = objective.index
            else:
                parts.append(self._pick(DONE, title=objective.title))
                completed.append(objective.index)
        return AssistantReply(" ".join(parts) or self._pick(IDLE), tuple(completed))


class ReplayAssistant:
    """Replays logged agent turns in order (then a neutral acknowledgement); a request counts
    as finished once a reply follows it, since the log's agent went on working."""

    name = "replay"

    def __init__(self, turns: Sequence[str]) -> None:
        self.turns = list(turns)

    def reset(self, goal: UserGoal, *, seed: int) -> None:
        self.goal = goal
        self._next = 0
        self._seen: set[int] = set()

    def reply(self, conversation: Sequence[dict[str, str]]) -> AssistantReply:
        last = next((m["content"] for m in reversed(conversation) if m.get("role") == "user"), "")
        requested = [o.index for o in self.goal.objectives
                     if o.index not in self._seen and says(o.title, last)]
        self._seen.update(requested)
        text = self.turns[self._next] if self._next < len(self.turns) else "Okay."
        self._next += 1
        return AssistantReply(text, tuple(requested))
