"""The simulator interface environments call, and the factories behind model specs.

A simulator plays the user: `reset` gives it a goal and a seed, `turn` asks for the next user
message given the conversation so far and the objective the environment is at. Simulators
that inject drift report it as ground truth in `UserTurn.injected`, and what the turn states
as its `intent` (read by the scripted tracker); LLM simulators leave both empty (their drift
is what the tracker has to find).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .goal import DriftEvent, UserGoal
from .intent import Intent
from .tracker import make_tracker

__all__ = ["STOP", "UserSimulator", "UserTurn", "make_simulator", "make_tracker"]

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

    def reset(self, goal: UserGoal, *, seed: int) -> None: ...

    def turn(self, conversation: list[dict[str, str]], *, objective: int) -> UserTurn:
        """The next user message; `objective` is the 0-based request the environment is at
        (``len(goal.objectives)`` once all are done: the user wraps up)."""
        ...


def make_simulator(spec: str, *, steer: bool = False, **model_options: Any) -> UserSimulator:
    """``scripted``, ``scripted:drift=R[,events=a+b]``, ``litellm:<model>`` or ``hf:<path>``.

    `model_options` go to `models.parse_model_spec` (api_base, cache_dir, use_cache);
    `steer` puts the tracked goal state into an LLM simulator's prompt (UGST steering).
    """
    kind, _, rest = spec.partition(":")
    if kind == "scripted":
        from .scripted import DriftProfile, ScriptedSimulator

        return ScriptedSimulator(DriftProfile.parse(rest))
    if kind in ("litellm", "hf") and rest:
        from ..models import parse_model_spec
        from .llm import LLMSimulator

        return LLMSimulator(parse_model_spec(spec, **model_options), steer=steer)
    raise ValueError(f"unknown simulator spec {spec!r}: use scripted, scripted:drift=R "
                     "(0 <= R <= 1), litellm:<model> or hf:<path>")
