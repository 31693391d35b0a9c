"""The sandbox contract: where agent code runs and how the world is observed.

A sandbox owns one workspace with a ``repo/`` (the agent's working tree, the only place its
tools may read or write) and a ``grading/`` area the grader fills at grading time. Backends:
``local`` (bubblewrap, or a weaker plain-subprocess tier that says so) and, later, docker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

REPO = "repo"
GRADING = "grading"
RUN = "run"
"""The one folder of the grading area, besides the repo copy, that a job may write."""


class BadInput(ValueError):
    """An argument the sandbox refuses (NUL bytes, a FIFO or device where a file is needed):
    an error observation for the agent, never a crash of the run."""


class PathEscape(BadInput):
    """A path points outside the repo (absolute, `..`, or through a symlink)."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the agent's code): an infrastructure error."""


@dataclass(frozen=True)
class ExecResult:
    """What a command did. Output is decoded with replacement and capped."""

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0
    limit: str | None = None
    """Which sandbox-wide limit the command hit (process count, memory, quota), if any."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@runtime_checkable
class Sandbox(Protocol):
    """A small surface, as in inspect_ai: exec, files, snapshots, close."""

    @property
    def isolation(self) -> str:
        """The isolation tier, recorded in every result (e.g. ``bwrap``, ``subprocess-weak``)."""
        ...

    @property
    def limits(self) -> dict[str, Any]:
        """What the sandbox enforces (uid, capabilities, process, memory and disk bounds)."""
        ...

    @property
    def quota(self) -> int:
        """The workspace's size bound in bytes."""
        ...

    @property
    def over_quota(self) -> bool:
        """Whether a command left the workspace over its quota (the agent's failure)."""
        ...

    def exec(
        self, command: str, *, cwd: str = REPO, timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        """Run a shell command with `cwd` relative to the workspace (``repo`` or ``grading``)."""
        ...

    def read_file(self, path: str) -> str:
        """Read a repo file (UTF-8 with replacement)."""
        ...

    def write_file(self, path: str, content: str) -> None:
        """Create or overwrite a repo file, creating parent folders."""
        ...

    def list_files(self, path: str = ".") -> list[str]:
        """Repo-relative paths of files under `path`."""
        ...

    def stage_grading(self, files: dict[str, str]) -> None:
        """Fresh ``grading/``: a copy of the repo as ``grading/repo`` plus `files`.

        Grading runs on a copy so that nothing the grader's runs write (logs, exports,
        caches) leaks into the agent's tree, and nothing hidden is ever in it.
        """
        ...

    def write_grading(self, rel: str, content: str) -> None:
        """Write one file into ``grading/`` (replacing whatever the last job left there)."""
        ...

    def read_grading(self, rel: str) -> str | None:
        """A file a grading run left in ``grading/`` (None when absent)."""
        ...

    def clear_grading(self) -> None:
        """Empty ``grading/`` (hidden tests must not stay where the agent could read them)."""
        ...

    def snapshot(self, label: str, *, author: str | None = None) -> str:
        """Record the repo state as a commit with message `label` (by `author`, default the
        harness); return an id usable with `diff`."""
        ...

    def log(self, limit: int) -> str:
        """The `limit` most recent commits, newest first (author and full message)."""
        ...

    def diff(self, base: str, head: str) -> str:
        """Unified diff between two snapshots."""
        ...

    def changed_files(self, base: str, head: str) -> list[tuple[str, str]]:
        """(git status letter, path) for every file that differs between two snapshots."""
        ...

    def workspace_path(self, area: str, rel: str = "") -> str:
        """How a workspace path is spelled inside the sandbox (for commands)."""
        ...

    def close(self) -> None:
        """Kill anything left and remove the workspace."""
        ...


def open_sandbox(kind: str = "auto") -> Sandbox:
    """A sandbox of the requested kind: ``auto``, ``bwrap``, ``subprocess``."""
    from .local import LocalSandbox

    return LocalSandbox(tier=kind)
