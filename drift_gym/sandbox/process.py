"""What the two host-process backends (bubblewrap and the subprocess tier) share: a cgroup per
sandbox where the host allows one, per-process rlimits, and the uid switch between fork and
exec. See :mod:`.limits` for why the bounds are per sandbox."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .base import SandboxError
from .files import HostFiles
from .keyrings import own_session_keyring
from .limits import PROCESS_LIMIT, SANDBOX_MEMORY_LIMIT, Cgroup, LimitEvents, apply_rlimits
from .starter import started
from .workspace import Workspace

SPAWNED_CPU_SECONDS = 24 * 3600
"""CPU budget of a spawned server itself (each job it forks sets its own, per job)."""


def interpreter_prefixes() -> list[str]:
    """The folders the sandbox's Python lives in (virtualenv and base installation)."""
    return sorted({sys.prefix, sys.base_prefix,
                   str(Path(os.path.realpath(sys.executable)).parent.parent)})


def reachable_unprivileged() -> bool:
    """Whether a uid with no rights of its own can run this interpreter on the host (every
    folder above it searchable by others) -- the subprocess tier switches uid only then."""
    for prefix in interpreter_prefixes():
        for folder in (Path(prefix), *Path(prefix).parents):
            with contextlib.suppress(OSError):
                if not folder.stat().st_mode & stat.S_IXOTH:
                    return False
    return True


class HostProcessBackend(HostFiles):
    """Commands are host processes, bounded by a cgroup of the sandbox's own."""

    isolation = "host"
    uid: int | None = None
    lanes_apart = False
    switch_uid_in_child = False
    """Whether the child itself drops to `uid` (the subprocess tier; bubblewrap uses setpriv
    inside the namespace instead)."""

    def __init__(self) -> None:
        self._cgroup: Cgroup | None = None
        self._workspace: Workspace | None = None
        self._spawned: set[int] = set()

    def start(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._cgroup = Cgroup.create(workspace.root.name)

    def stop(self) -> None:
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    def events(self) -> LimitEvents:
        return self._cgroup.events() if self._cgroup is not None else LimitEvents()

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            raise RuntimeError("the backend has not been started")
        return self._workspace

    def command(self, command: str, cwd: str, env: dict[str, str],
                grading: Path | None = None) -> tuple[list[str], Path, dict[str, str]]:
        """(argv, host working folder, host environment) that run `command` in this
        backend's isolation: what `exec` and `spawn` both start."""
        raise NotImplementedError

    @contextlib.contextmanager
    def launch(self, command: str, cwd: str, env: dict[str, str], grading: Path | None = None,
               ) -> Iterator[tuple[list[str], Path, dict[str, str], tuple[int, ...]]]:
        """`command` (argv, host folder, host environment) and the descriptors its process
        must be given (bubblewrap's seccomp filter), open while inside."""
        yield (*self.command(command, cwd, env, grading), ())

    def spawn(self, command: str, *, cwd: str, env: dict[str, str],
              grading: Path | None = None, stderr: IO[bytes] | None = None,
              ) -> subprocess.Popen[bytes]:
        """A long-lived process under the same isolation, uid, rlimits and cgroup as `exec`
        (the warm grader), with pipes on stdin and stdout and its stderr on the host file
        `stderr` (none: discarded); it dies with the sandbox. `grading`: another grading
        area shown in place of the workspace's (a lane of its own, see
        WorkspaceSandbox.hidden_tests_plan; bubblewrap only)."""
        with self.launch(command, cwd, env, grading) as (argv, host_cwd, host_env, fds):
            try:
                proc = started(lambda: subprocess.Popen(  # on the starter thread (starter.py)
                    argv, cwd=host_cwd, env=host_env, stdin=subprocess.PIPE, pass_fds=fds,
                    stdout=subprocess.PIPE, stderr=stderr or subprocess.DEVNULL,
                    start_new_session=True, preexec_fn=self.preexec(SPAWNED_CPU_SECONDS)))
            except (OSError, subprocess.SubprocessError) as exc:
                raise SandboxError(f"could not start {argv[0]}: {exc}") from exc
        self._spawned.add(proc.pid)
        return proc

    def preexec(self, timeout: float, *, address_space: bool = True) -> Callable[[], None]:
        """What the child runs between fork and exec: rlimits, joining the cgroup, a session
        keyring of its own (see keyrings.py), and the uid switch where this backend does it
        there."""
        uid, cgroup = self.uid, self._cgroup
        switch = self.switch_uid_in_child and uid is not None

        def run() -> None:
            apply_rlimits(int(timeout) + 5, nproc=uid is not None, address_space=address_space)
            if cgroup is not None:
                cgroup.attach_self()
            own_session_keyring()
            if switch:
                os.setgroups([])
                os.setgid(uid)  # type: ignore[arg-type]
                os.setuid(uid)  # type: ignore[arg-type]
        return run

    def _host_limits(self, *, capabilities: str, tmp: str, quota: int,
                     quota_mounted: bool) -> dict[str, Any]:
        cgroup = self._cgroup
        return {
            "uid": "its own unprivileged uid" if self.uid is not None else
            f"host user {os.geteuid()} (not switched: " + (
                "not root)" if os.geteuid() else "the interpreter is not reachable by others)"),
            "capabilities": capabilities,
            "process_limit": PROCESS_LIMIT if (cgroup or self.uid is not None) else None,
            "sandbox_memory": SANDBOX_MEMORY_LIMIT if cgroup and cgroup.bounds_memory
            else None,
            "tmp": tmp,
            "workspace_quota": quota,
            "quota_enforced_by": "tmpfs" if quota_mounted else "check after each command",
        }
