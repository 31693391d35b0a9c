"""The sandbox's shared types: the `Sandbox` and `Backend` protocols, results and errors
(imported by every backend module, so that none of them imports the package back)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .limits import LimitEvents
    from .workspace import Workspace

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
        env: dict[str, str] | None = None, address_space: bool = True,
    ) -> ExecResult:
        """Run a shell command with `cwd` relative to the workspace (``repo`` or ``grading``).

        `address_space` False lifts the per-process address-space bound (for an external
        harness on a runtime such as Bun that reserves more than it uses); the sandbox's
        memory bound still holds where the backend has one.
        """
        ...

    def share(self, host: Path, *, inside: str | None = None, writable: bool = False) -> str:
        """Show the host folder `host` to every later command, at `inside` (default: a path
        the backend picks), read-only unless `writable` (then it is handed to the sandbox's
        uid); return the path commands see it at. For an external harness's installation
        and state, which must not live in the repo. A path the sandbox owns is refused with
        `SandboxError`."""
        ...

    def read_file(self, path: str) -> str:
        """Read a repo file (UTF-8 with replacement)."""
        ...

    def write_file(self, path: str, content: str) -> None:
        """Create or overwrite a repo file, creating parent folders."""
        ...

    def place_file(self, path: str, content: str) -> None:
        """Write a repo file for the grader (a teammate's commit) as a checkout would: a
        folder, link or pipe where the file or one of its folders belongs is replaced."""
        ...

    def list_files(self, path: str = ".") -> list[str]:
        """Repo-relative paths of files under `path`."""
        ...

    def grading_job(self, argv: list[str], *, timeout: float, lane: str = "probe") -> ExecResult:
        """Run ``grader_runtime.py ARGV`` in ``grading/run`` of `lane` (warm where the backend
        can keep a grader server, else cold); its stdout carries the job's frames."""
        ...

    def hidden_tests_plan(self) -> str:
        """How the hidden tests run (lanes.py: `BESIDE`, `AHEAD` or `AFTER` the probe in a
        lane of their own, where the backend can keep one apart, else `SHARED`: in the
        agent's lane, where the probe runs too, after it)."""
        ...

    def compile_ahead(self, lane: str) -> None:
        """Have `lane`'s warm grader, where there is one, compile the repo staged in its area
        for its next job (while the other lane's job runs)."""
        ...

    def run_pytest(self, args: list[str], *, timeout: float) -> ExecResult:
        """``python -m pytest ARGS`` in the repo, exactly as `exec` would run that command
        (the repo's own conftest.py and ini files apply), in a fork of the warm grader where
        the sandbox keeps one."""
        ...

    def grading_shortfall(self) -> str | None:
        """Why the workspace has no room to grade the repo as it stands (a snapshot of it
        and a copy for the grading area, within the quota), or None where it has; the
        grading area is emptied first (what a command left there is not the repo)."""
        ...

    def stage_grading(self, files: dict[str, str], *, lane: str = "probe") -> None:
        """Fresh ``grading/``: the last snapshot's files as ``grading/repo`` plus `files`.

        Grading runs on a copy so that nothing the grader's runs write (logs, exports,
        caches) leaks into the agent's tree, and nothing hidden is ever in it. The copy holds
        exactly what the snapshot recorded, so the code that runs is the code the diff shows.
        """
        ...

    def write_grading(self, rel: str, content: str, *, lane: str = "probe") -> None:
        """Write one file into `lane`'s ``grading/`` (replacing whatever the last job left
        there)."""
        ...

    def clear_grading(self) -> None:
        """Empty every lane's ``grading/`` (hidden tests must not stay where the agent could
        read them)."""
        ...

    def snapshot(self, label: str, *, author: str | None = None,
                 paths: Sequence[str] | None = None) -> str:
        """Record the repo state as a commit with message `label` (by `author`, default the
        harness); return an id usable with `diff`. With `paths`, only those files are
        recorded (a teammate's commit; the rest of the tree stays for the agent's diff)."""
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

    @property
    def reusable(self) -> bool:
        """Whether `reset` can give a new episode this sandbox, kept apart from the last."""
        ...

    def reset(self) -> None:
        """Empty repo, history, grading area and temp folder; backend and grader kept."""
        ...

    def save_state(self) -> Path:
        """Keep the repo and its history as they are now (a reusable sandbox only)."""
        ...

    def restore_state(self, state: Path) -> None:
        """As `reset`, with the repo and history fresh copies of a saved state."""
        ...

    def drop_state(self, state: Path) -> None:
        """Forget a saved state."""
        ...

    def close(self) -> None:
        """Kill anything left and remove the workspace."""
        ...

    def __enter__(self) -> Sandbox:
        """``with open_sandbox() as box:`` closes the sandbox however the block ends."""
        ...

    def __exit__(self, *exc: object) -> None: ...


class Backend(Protocol):
    """Process execution and file transfer for one workspace, nothing more.

    Paths given to the file methods are host paths already confined to the workspace by the
    shared layer; `exec` gets the full environment to set (nothing of the host's leaks).
    """

    isolation: str
    """The tier recorded with every result (``bwrap``, ``subprocess-weak``, ``docker``)."""
    uid: int | None
    """The uid commands run as, which the shared layer hands the writable folders to."""
    lanes_apart: bool
    """Whether `exec` can show another lane's area apart from the live repo (`grading`)."""

    def start(self, workspace: Workspace) -> None:
        """Bring the isolation up around a fresh workspace (a container, a cgroup)."""
        ...

    def stop(self) -> None:
        """Kill everything left and release what `start` took. Safe to call twice."""
        ...

    def exec(self, command: str, *, cwd: str, timeout: float, env: dict[str, str],
             cap: int, address_space: bool = True, grading: Path | None = None) -> ExecResult:
        """Run ``/bin/sh -c command`` in workspace area `cwd` (``repo`` or ``grading``), kill
        every process it left when it ends or times out, and read at most `cap` bytes of each
        stream (`address_space`: whether the per-process address-space bound applies;
        `grading`: another lane's area shown in place of the grading area and of the live
        repo, where `lanes_apart`, see lanes.py)."""
        ...

    def share(self, host: Path, inside: str | None, writable: bool) -> str:
        """Show the host folder `host` to every later command at `inside` (None: where the
        backend puts shares, :mod:`.shares`); return that path."""
        ...

    def events(self) -> LimitEvents:
        """How often the sandbox-wide limits were hit so far (zeros where unknown)."""
        ...

    def limits(self, quota: int, quota_mounted: bool) -> dict[str, Any]:
        """What this backend enforces, as recorded with every episode."""
        ...

    def workspace_path(self, area: str, rel: str = "") -> str:
        """How a workspace path is spelled inside the sandbox."""
        ...

    def read_bytes(self, path: Path, limit: int) -> bytes:
        ...

    def write_bytes(self, path: Path, data: bytes) -> None:
        ...

    def list_tree(self, path: Path) -> list[Path]:
        ...
