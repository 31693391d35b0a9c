"""External coding harnesses (OpenCode first) driven as the agent under test.

A harness is a CLI with its own system prompt, tools and context management. drift_gym runs
it inside the episode's sandbox, once per request, continuing one session, with its model
served by drift_gym's proxy (:mod:`drift_gym.proxy`). What differs between CLIs is small and
lives behind `Harness`: where it is installed, the config it reads, the command line of one
request, and how to read its event stream. Everything else (the proxy, the sandbox, budgets,
grading, failure rules) is shared, in :mod:`.agent`. Adding Claude Code or Codex CLI is one
module with a `Harness` class and one line in `HARNESSES`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..models import ModelError
from ..tools import ToolCall


class HarnessError(ModelError):
    """The harness itself failed (crashed, could not start, lost its model endpoint): an
    infrastructure error of the episode, like a model failure, never a score."""

    def __init__(self, message: str) -> None:
        super().__init__(message, fatal=False)


class HarnessMissing(ValueError):
    """The harness is not installed here (the message names the install command)."""


@dataclass(frozen=True)
class HarnessPaths:
    """Where one episode's harness state lives, as the sandbox spells it. All of it is
    outside the repo, so none of it is ever in the agent's diff."""

    state: str
    """A writable folder for config, XDG dirs, session data and run outputs."""
    socket: str
    """The model proxy's Unix socket."""


@dataclass
class HarnessRun:
    """What one request's run produced, read from the harness's own event stream."""

    final_text: str = ""
    """The harness's last text to the user: the step's finish message."""
    tool_events: list[dict[str, Any]] = field(default_factory=list)
    """One entry per tool the harness ran (name, input, status, output head)."""
    session: str | None = None
    error: str | None = None
    """An error the harness reported about itself (its event stream's error events)."""
    events: int = 0


class Harness(Protocol):
    """One external CLI."""

    name: str

    def unavailable(self) -> str | None:
        """Why it cannot run here (not installed: name the install command), else None."""
        ...

    def install_dirs(self) -> list[Path]:
        """Host folders the sandbox must see, read-only, at the same paths."""
        ...

    def setup(self, state: Path, paths: HarnessPaths, *, instructions: str) -> None:
        """Write the harness's config into the host folder `state` (seen inside the sandbox
        as `paths.state`); `instructions` is the episode's system prompt."""
        ...

    def command(self, paths: HarnessPaths, session: str | None) -> list[str]:
        """The argv of one request (the prompt arrives on stdin), continuing `session`."""
        ...

    def environment(self, paths: HarnessPaths) -> dict[str, str]:
        """Environment variables of its runs (config location, XDG dirs, switches)."""
        ...

    def parse(self, stdout: str) -> HarnessRun:
        """The run's outcome from its stdout."""
        ...

    def tool_call(self, call: ToolCall) -> ToolCall | None:
        """drift_gym's tool call as this harness's own (None: it has no such tool), so the
        reference players can drive it."""
        ...


HARNESSES: dict[str, str] = {
    "opencode": "drift_gym.harnesses.opencode:OpenCode",
}


def harness_names() -> tuple[str, ...]:
    return tuple(HARNESSES)


def make_harness(name: str, **options: Any) -> Harness:
    """A registered harness by name; an error names the known ones."""
    if name not in HARNESSES:
        raise ValueError(f"unknown harness {name!r}: use one of {', '.join(HARNESSES)}")
    module, _, cls = HARNESSES[name].partition(":")
    harness: Harness = getattr(importlib.import_module(module), cls)(**options)
    return harness


def split_spec(spec: str) -> tuple[str, str] | None:
    """(harness, model spec) from ``NAME[:MODEL_SPEC]`` when NAME is a harness, else None."""
    name, _, model = spec.partition(":")
    return (name, model) if name in HARNESSES else None
