"""The simulator interface environments call, and the factories behind model specs.

A simulator plays the user: `reset` gives it a goal and a seed, `turn` asks for the next user
message given the conversation so far and the objective the environment is at. Simulators
that inject drift report it as ground truth in `UserTurn.injected`, and what the turn states
as its `intent` (read by the scripted tracker); LLM simulators leave both empty (their drift
is what the tracker has to find).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .goal import DriftEvent, UserGoal
from .intent import Intent

__all__ = ["STOP", "UserSimulator", "UserTurn"]

STOP = "###STOP###"
"""The token an LLM-played user (or a policy in SimulatorEnv) emits to end the conversation."""


@dataclass(frozen=True)
class UserTurn:
    """One user message. `stop`: the user ends the conversation with it."""

    text: str
    stop: bool = False
    injected: tuple[DriftEvent, ...] = ()
    intent: Intent | None = None


class UserSimulator(Protocol):
    name: str
    ground_truth: bool
    """Whether it reports the drift it injects (`UserTurn.injected`): only then can a
    tracker's recall and false positives be measured against it."""

    def reset(self, goal: UserGoal, *, seed: int) -> None: ...

    def turn(self, conversation: list[dict[str, str]], *, objective: int) -> UserTurn:
        """The next user message; `objective` is the 0-based request the environment is at
        (``len(goal.objectives)`` once all are done: the user wraps up)."""
        ...
