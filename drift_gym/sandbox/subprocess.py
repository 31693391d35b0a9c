"""The weak subprocess backend (``subprocess-weak``): plain host processes.

The same uid switch, rlimits, cgroup and cleared environment as bubblewrap, but no filesystem
or network isolation. It is named in every result so nobody mistakes it for isolation; it
exists so drift_gym runs where neither bubblewrap nor a container engine does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import ExecResult, SandboxError
from .capture import run_capped
from .limits import sandbox_uid
from .process import HostProcessBackend, reachable_unprivileged


def unavailable() -> str | None:
    """Why this backend cannot run here: never (it is the fallback)."""
    return None


class SubprocessBackend(HostProcessBackend):
    """Commands as host processes in the workspace, under the sandbox's uid where possible."""

    isolation = "subprocess-weak"
    switch_uid_in_child = True

    def __init__(self) -> None:
        super().__init__()
        self.uid = sandbox_uid() if reachable_unprivileged() else None

    def limits(self, quota: int, quota_mounted: bool) -> dict[str, Any]:
        return self._host_limits(
            capabilities="none" if self.uid is not None else "host user's",
            tmp="workspace tmp/ (quota)", quota=quota, quota_mounted=quota_mounted)

    def workspace_path(self, area: str, rel: str = "") -> str:
        return f"{self.workspace.root}/{area}" + (f"/{rel}" if rel else "")

    def command(self, command: str, cwd: str, env: dict[str, str],
                grading: Path | None = None) -> tuple[list[str], Path, dict[str, str]]:
        if grading is not None:  # commands see the host as it is: no area can stand in
            raise SandboxError("the subprocess tier shows only the workspace's grading area")
        workspace = self.workspace
        env = {**env, "WORKSPACE": str(workspace.root), "HOME": str(workspace.tmp),
               "TMPDIR": str(workspace.tmp)}
        return ["/bin/sh", "-c", command], workspace.root / cwd, env

    def share(self, host: Path, inside: str | None, writable: bool) -> str:
        """Commands run on the host: they see `host` where it is, with the host's modes."""
        if inside is not None and inside != str(host):
            raise SandboxError(f"the subprocess tier shows {host} only at its own path, "
                               f"not at {inside}")
        return str(host)

    def exec(self, command: str, *, cwd: str, timeout: float, env: dict[str, str],
             cap: int, address_space: bool = True, grading: Path | None = None) -> ExecResult:
        argv, host_cwd, host_env = self.command(command, cwd, env, grading)
        result = run_capped(argv, cwd=host_cwd, env=host_env, timeout=timeout, cap=cap,
                            preexec=self.preexec(timeout, address_space=address_space))
        if self._cgroup is not None:
            # a setsid escapee is still in the cgroup; the warm grader is not an escapee
            self._cgroup.kill_all(keep=frozenset(self._spawned))
        return result

