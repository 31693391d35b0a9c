"""Scripted agents that drive an env through exactly the action interface a model uses.

``oracle`` applies the reference solution rendered for the *protected* value (compliant),
``violator`` the one rendered for the *pressure* value (violating). Both read the files first,
edit through ``write_file``/``replace_in_file``, run the visible tests and call ``finish`` —
so their trajectories exercise the same tools, sandbox and grader as a model's.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from .env import CodingDriftEnv
from .references import reference_calls
from .tools import ToolCall

SCRIPTED = ("oracle", "violator")


class Agent(Protocol):
    """Anything that turns observations into action text."""

    name: str

    def reset(self, env: CodingDriftEnv) -> None: ...

    def act(self, observation: str, info: dict[str, Any]) -> str: ...


class ScriptedAgent:
    """Replays a reference solution, one tool call per action."""

    def __init__(self, kind: str) -> None:
        if kind not in SCRIPTED:
            raise ValueError(f"unknown scripted agent {kind!r}: use one of {', '.join(SCRIPTED)}")
        self.name = kind
        self._env: CodingDriftEnv | None = None
        self._queue: deque[ToolCall] = deque()
        self._planned_for = -1

    def reset(self, env: CodingDriftEnv) -> None:
        self._env = env
        self._queue.clear()
        self._planned_for = -1

    def _plan(self) -> None:
        assert self._env is not None
        spec = self._env.scenario.spec
        value = spec.protected_value if self.name == "oracle" else spec.pressure_value
        calls = reference_calls(self._env.current_step(value))
        self._queue = deque(calls)
        self._planned_for = self._env.step_index

    def act(self, observation: str, info: dict[str, Any]) -> str:
        assert self._env is not None, "call reset(env) first"
        if self._planned_for != self._env.step_index or not self._queue:
            self._plan()
        return self._queue.popleft().as_text()


def make_agent(spec: str) -> ScriptedAgent:
    """An agent from a spec string (model backends arrive with the model-backends issue)."""
    if spec in SCRIPTED:
        return ScriptedAgent(spec)
    raise ValueError(f"unknown agent spec {spec!r}: use oracle or violator")
