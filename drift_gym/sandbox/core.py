"""The one `Sandbox` implementation, shared by every backend.

It owns what must not differ between isolation technologies, so that a verdict means the same
on each: the host workspace (tmpfs quota, owner record, cleanup layers), path confinement of the
file tools, the git history outside the repo, the grading area, handing the writable folders to
the sandbox's uid, the ``[sandbox: ...]`` limit reports. The backend runs commands, moves files.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import lanes, saved
from .base import GRADING, REPO, RUN, Backend, BadInput, ExecResult, SandboxError
from .capture import OUTPUT_CAP
from .grading_area import WRITABLE, shortfall
from .history import History
from .keyrings import clear_keyrings
from .lanes import AGENT, PROBE, TESTS, distinct, make_lanes, room_for_lanes, second_copy_fits
from .limits import WORKSPACE_QUOTA, LimitEvents, limit_notes
from .paths import confine, file_kind, plain, regular_only, shown_name
from .trees import clear_the_way, hand_over, remove_tree
from .warm import WarmGrader, shadowing
from .workspace import (
    Workspace,
    create_workspace,
    register,
    remove_workspace,
    signals_deferred,
    usage_bytes,
)

MAX_READ = 4 * 1024 * 1024
TMP = "tmp"
SAFE_ENV = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "PYTHONUTF8": "1",
    # The sandbox borrows drift_gym's interpreter; its pytest plugins (hypothesis, xdist, ...)
    # belong to drift_gym, not to the repo under test, and cost ~1.3 s per pytest start.
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
}


def command_path() -> str:
    """``PATH`` in every sandbox: the interpreter's folder first (shown at its host path)."""
    return f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"


class WorkspaceSandbox:
    """A workspace on the host, shown to the sandboxed commands by `backend`."""

    def __init__(self, backend: Backend, *, output_cap: int = OUTPUT_CAP,
                 quota: int = WORKSPACE_QUOTA, quota_mount: bool = True) -> None:
        self._backend = backend
        self._cap = output_cap
        self.grading_mode = os.environ.get("DRIFT_GYM_GRADING", "warm")
        """``warm`` (forks of a warm grader per lane) or ``cold`` (``validate --cold``)."""
        self._saves, self._shared = 0, False
        self._writable_shares: list[Path] = []
        self.quota = quota
        self._closed = False
        self.over_quota = False
        with signals_deferred():
            self.root, self._quota_mounted = create_workspace(quota=quota, mount=quota_mount)
            register(self)
        self.repo = self.root / REPO
        self.grading = self.root / GRADING
        self.tmp = self.root / TMP
        for path in (self.repo, self.grading, self.tmp):
            path.mkdir()
        self._lanes = make_lanes(self.root, backend.lanes_apart)
        self._history = History(self.root / "git", self.repo, home=self.root)
        self._history.init()
        self.workspace = Workspace(root=self.root, repo=self.repo, grading=self.grading,
                                   tmp=self.tmp, uid=backend.uid)
        try:
            backend.start(self.workspace)
        except BaseException:
            self.close()
            raise
        self._modes = {path: stat.S_IMODE(os.stat(path).st_mode) for path in (self.repo, self.tmp)}
        """The modes the episode's folders start with (a reset gives them back)."""

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def isolation(self) -> str:
        return self._backend.isolation

    @property
    def limits(self) -> dict[str, Any]:
        """What this sandbox enforces, as recorded with every episode."""
        warm = self.grading_mode == "warm" and hasattr(self._backend, "spawn")
        return {**self._backend.limits(self.quota, self._quota_mounted),
                "grading": "warm" if warm else "cold"}

    # -- files -------------------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        return confine(self.repo, path)

    def read_file(self, path: str) -> str:
        target = self.resolve(path)
        if not target.exists():
            raise FileNotFoundError(f"{path}: no such file in the repo")
        regular_only(target, path)
        if not target.is_file():
            raise IsADirectoryError(f"{path} is a directory")
        data = self._backend.read_bytes(target, MAX_READ + 1)
        text = data[:MAX_READ].decode("utf-8", errors="replace")
        return text + ("\n[... file truncated ...]" if len(data) > MAX_READ else "")

    def write_file(self, path: str, content: str) -> None:
        target = self.resolve(path)
        if target.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        if target.exists() or target.is_symlink():
            regular_only(target, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.resolve(path)  # a parent created above must not have been a symlink out
        self._backend.write_bytes(target, content.encode("utf-8", errors="surrogateescape"))

    def place_file(self, path: str, content: str) -> None:
        """Write `path` as a checkout would, whatever the agent left there (a teammate's
        commit must neither fail on the agent's tree nor write through a link out of it)."""
        clear_the_way(self.repo, plain(path))
        self.write_file(path, content)

    def list_files(self, path: str = ".") -> list[str]:
        base = self.resolve(path)
        repo = self.repo.resolve()
        if base.is_file():
            return [shown_name(base.relative_to(repo).as_posix())]
        if not base.is_dir():
            raise FileNotFoundError(f"{path}: no such directory in the repo")
        found = []
        for entry in self._backend.list_tree(base):
            shown = shown_name(entry.relative_to(repo).as_posix())
            kind = file_kind(entry)
            found.append(shown if kind is None else f"{shown} ({kind})")
        return sorted(found)

    # -- exec --------------------------------------------------------------------------
    def _hand_over(self, lane: str | None = None) -> None:
        """Give the folders commands may write to the sandbox's uid; for a job of `lane`, only
        its own (walked by path: the other lane's job could swap one for a link to the host)."""
        agents = [self.repo, self.tmp, *self._writable_shares]
        chosen = distinct(self._lanes) if lane is None else [self._lanes[lane]]
        hand_over(self._backend.uid, [top for one in chosen for top in one.writable(agents)])

    def share(self, host: Path, *, inside: str | None = None, writable: bool = False) -> str:
        folder = Path(host).resolve()
        if not folder.is_dir():
            raise SandboxError(f"cannot share {host}: not a folder")
        if folder == self.root or self.root in folder.parents or folder in self.root.parents:
            raise SandboxError(f"cannot share {host}: it overlaps the sandbox's workspace")
        shown = self._backend.share(folder, inside, writable)
        self._shared = True
        if writable:
            self._writable_shares.append(folder)
        return shown

    def exec(self, command: str, *, cwd: str = REPO, timeout: float = 20.0,
             env: dict[str, str] | None = None, address_space: bool = True) -> ExecResult:
        if cwd not in (REPO, GRADING):
            raise ValueError(f"cwd must be {REPO!r} or {GRADING!r}, not {cwd!r}")
        extra = env or {}
        if any("\x00" in text for text in (command, *extra, *extra.values())):
            raise BadInput("the command contains a NUL byte, which no shell accepts")
        self._hand_over()
        return self._run(command, cwd=cwd, timeout=timeout, env=extra, address_space=address_space)

    def _run(self, command: str, *, cwd: str, timeout: float, env: dict[str, str] | None = None,
             address_space: bool = True, grading: Path | None = None) -> ExecResult:
        """`command` run by the backend, with the limits it hit said (folders handed over)."""
        before = self._backend.events()
        result = self._backend.exec(command, cwd=cwd, timeout=timeout, env=self._env(env),
                                    cap=self._cap, address_space=address_space, grading=grading)
        return self._with_limits(result, before)

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**SAFE_ENV, "PATH": command_path(), "DRIFT_GYM_SANDBOX": self.isolation} | (
            extra or {})

    def _with_limits(self, result: ExecResult, before: LimitEvents) -> ExecResult:
        """Say which sandbox-wide limit the command hit, in the result and its stderr."""
        notes = limit_notes(before, self._backend.events(), result.stderr)
        used = usage_bytes(self.root, mounted=self._quota_mounted, limit=self.quota)
        if used >= self.quota:
            self.over_quota = True
            notes.append(f"workspace quota exceeded ({used // 2**20} MiB used of "
                         f"{self.quota // 2**20} MiB)")
        if not notes:
            return result
        text = "; ".join(notes)
        return replace(result, limit=text,
                       stderr=f"{result.stderr}\n[sandbox: {text}]".lstrip("\n"))

    def workspace_path(self, area: str, rel: str = "") -> str:
        """How a workspace path is spelled *inside* the sandbox (for commands)."""
        return self._backend.workspace_path(area, rel)

    # -- grading jobs ------------------------------------------------------------------
    def _warm_for(self, tree: Path, lane: str) -> WarmGrader | None:
        """`_server(lane)`; None where `tree` shadows a module or the tests' will not start."""
        try:
            server = self._server(lane)
        except SandboxError:
            if lane != TESTS:
                raise
            server = None
        return None if server is None or shadowing(tree, server.modules) else server

    def _grader(self, lane: str) -> WarmGrader | None:
        """`lane`'s warm grader, maybe not started; None where jobs run cold (asked for, or
        a backend that keeps no server: Docker)."""
        if self.grading_mode != "warm" or not hasattr(self._backend, "spawn"):
            return None
        chosen = self._lanes[lane]
        if chosen.warm is None:
            env = self._env()
            chosen.warm = WarmGrader(lambda log: chosen.spawn(self._backend, env, log))
        return chosen.warm

    def _server(self, lane: str) -> WarmGrader | None:
        """`_grader(lane)`, started."""
        if (warm := self._grader(lane)) is not None:
            warm.start()
        return warm

    def hidden_tests_plan(self) -> str:
        """How the hidden tests run (lanes.py): apart where the backend can show their lane
        alone (servers started here, before a job could starve a start), beside the probe
        where there is a core, quota room and no writable share."""
        if not self._backend.lanes_apart:
            return lanes.SHARED
        tree = self._lanes[PROBE].root / REPO
        for warm in filter(None, map(self._grader, (PROBE, TESTS))):
            warm.launch()  # both interpreters start at once, then each is awaited
        self._server(PROBE)  # one that will not start: the step's infra error; the tests'
        with contextlib.suppress(SandboxError):  # job runs cold in its lane
            self._server(TESTS)
        if not second_copy_fits(self.root, tree, quota=self.quota, mounted=self._quota_mounted):
            return lanes.AFTER
        return lanes.BESIDE if not self._writable_shares and room_for_lanes() else lanes.AHEAD

    def compile_ahead(self, lane: str) -> None:
        """Have `lane`'s server compile the repo staged in its area, for its next job."""
        if (warm := self._lanes[lane].warm) is not None:
            warm.compile_ahead(self.workspace_path(GRADING, REPO))

    def grading_job(self, argv: list[str], *, timeout: float, lane: str = PROBE) -> ExecResult:
        """``grader_runtime.py ARGV`` in `lane`'s ``grading/run``: a warm fork (warm.py) or cold."""
        self._hand_over(lane)
        before = self._backend.events()
        warm = self._warm_for(self._lanes[lane].root / REPO, lane)
        if warm is not None:
            owned = {"root": self.workspace_path(GRADING), "writable": list(WRITABLE)}
            return self._with_limits(warm.run(argv, cwd=self.workspace_path(GRADING, RUN),
                                              timeout=timeout, cap=self._cap, owned=owned,
                                              sources=self.workspace_path(GRADING, REPO)), before)
        # -B: -I ignores PYTHONDONTWRITEBYTECODE (a fork writes no .pyc for the probe to see);
        # not `exec`, which hands over both lanes' folders while the other lane's job may run
        command = f"cd {RUN} && python -I -B ../grader_runtime.py {shlex.join(argv)}"
        return self._run(command, cwd=GRADING, timeout=timeout,
                         grading=self._lanes[lane].shown_apart)

    def run_pytest(self, args: list[str], *, timeout: float) -> ExecResult:
        """``python -m pytest ARGS`` in the repo as the agent's shell runs it (its conftest.py
        and ini apply; output, status, timeout, caps as `exec`'s), warm where it can be."""
        warm = self._warm_for(self.repo, AGENT)
        if warm is None:
            return self.exec(f"python -m pytest {shlex.join(args)}", timeout=timeout)
        self._hand_over()
        before = self._backend.events()
        repo = self.workspace_path(REPO)
        return self._with_limits(warm.run(["visible", *args], cwd=repo, timeout=timeout,
                                          cap=self._cap, sources=repo), before)

    # -- grading area ------------------------------------------------------------------
    def grading_shortfall(self) -> str | None:
        """Why the agent's repo cannot be graded (the agent's doing), or None (shortfall)."""
        self.clear_grading()
        used = usage_bytes(self.root, mounted=self._quota_mounted, limit=self.quota)
        return shortfall(self.repo, used=used, quota=self.quota)

    def stage_grading(self, files: dict[str, str], *, lane: str = PROBE) -> None:
        self._lanes[lane].area.stage(self._history.materialise, files)

    def write_grading(self, rel: str, content: str, *, lane: str = PROBE) -> None:
        self._lanes[lane].area.write(rel, content)

    def clear_grading(self) -> None:
        for lane in distinct(self._lanes):
            lane.area.clear()

    # -- history -----------------------------------------------------------------------
    def snapshot(self, label: str, *, author: str | None = None,
                 paths: Sequence[str] | None = None) -> str:
        return self._history.snapshot(label, author=author, paths=paths)

    def log(self, limit: int) -> str:
        return self._history.log(limit)

    def diff(self, base: str, head: str) -> str:
        return self._history.diff(base, head)

    def changed_files(self, base: str, head: str) -> list[tuple[str, str]]:
        return self._history.changed_files(base, head)

    # -- lifetime ----------------------------------------------------------------------
    @property
    def reusable(self) -> bool:
        """Whether `reset` may give this sandbox a new episode (bubblewrap: each command in a
        pid namespace of its own, nothing outlives it; a share would outlive it)."""
        return self.isolation == "bwrap" and not (self._closed or self._shared)

    def reset(self) -> None:
        """A new episode here: an empty repo, history, grading area and temp folder; backend and
        warm graders stay, having dropped what they kept. Nothing of the last episode survives."""
        self._wipe()
        self._history.init()

    def save_state(self) -> Path:
        """Keep the repo and its history as they are now, for `restore_state` (a reusable
        sandbox only; see saved.py). The saved state lives in the workspace, where no
        command can see it, until `drop_state` or `close`."""
        if not self.reusable:
            raise SandboxError(f"a {self.isolation} sandbox keeps no saved states")
        self._saves += 1
        return saved.save(self.root, self.repo, self._history.git_dir, str(self._saves))

    def restore_state(self, state: Path) -> None:
        """A new episode from a saved state: as `reset`, but the repo and history are fresh
        copies of the saved ones (see saved.py), whose code the warm graders keep."""
        roots = (self.workspace_path(REPO), self.workspace_path(GRADING, REPO))
        self._wipe(keep=saved.sources(state, roots))
        saved.restore(state, self.repo, self._history.git_dir)

    def drop_state(self, state: Path) -> None:
        remove_tree(state)

    def _wipe(self, keep: dict[str, str] | None = None) -> None:
        """Empty every folder an episode could write, and remove the history. The folders
        get their first modes back (the sandbox's uid owns them: a ``chmod 0 .`` would
        otherwise lock the next episode out of its repo), and one the removal could not
        empty (on a host that is not root, a folder made unreadable) is refused with
        SandboxError: the last episode's files must never reach the next."""
        if not self.reusable:
            raise SandboxError(f"a {self.isolation} sandbox cannot be reset for a new episode; "
                               "open a new one")
        for folder, mode in self._modes.items():
            os.chmod(folder, mode)
            for child in folder.iterdir():
                remove_tree(child)
            left = next(folder.iterdir(), None)
            if left is not None:
                raise SandboxError(f"the wipe left {left.name!r} in {folder.name}/ (the last "
                                   "episode's files would reach the next)")
        for lane in distinct(self._lanes):  # what its server kept: only code of files in `keep`
            lane.reset(keep or {})
        clear_keyrings(self._backend.uid)
        remove_tree(self._history.git_dir)
        self.over_quota = False

    def close(self) -> None:
        """Stop the backend and remove the workspace. Safe to call twice, and from a signal
        handler that interrupted a first call: the removal always runs again."""
        first = not self._closed
        self._closed = True
        try:
            if first:
                for lane in distinct(self._lanes):
                    lane.close()
                self._backend.stop()
        finally:
            remove_workspace(self.root)

    def __enter__(self) -> WorkspaceSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self, _suppress: type[contextlib.suppress] = contextlib.suppress) -> None:
        # bound as a default: at interpreter exit the module's globals may already be None
        with _suppress(Exception):
            self.close()
