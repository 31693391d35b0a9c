"""The bubblewrap backend: each command in fresh namespaces on the host.

Mount, PID, network, IPC and UTS namespaces unshared (no network), a fresh PID namespace
(killing bwrap tears down every process the command started), only the workspace writable,
read-only system and interpreter, a cleared environment (no host secrets), a 64 MiB tmpfs
``/tmp``. Commands run as an unprivileged uid of the sandbox's own with no capabilities
(bubblewrap as root sets up the mounts, then ``setpriv`` drops to that uid with an empty
bounding set and ``no_new_privs``), so nothing read-only can be remounted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base import GRADING, REPO, RUN, ExecResult, SandboxError
from .capture import run_capped
from .limits import TMP_SIZE, sandbox_uid
from .process import HostProcessBackend, interpreter_prefixes
from .seccomp import keyring_filter
from .shares import Share, parents, placed

SANDBOX_ROOT = "/sandbox"
_MOUNTED = {"/", "/usr", "/tmp", "/proc", "/dev", "/etc", "/bin", "/lib", "/lib64", "/sbin"}


@lru_cache(maxsize=1)
def bwrap_available() -> bool:
    """True when bubblewrap is installed and can create its namespaces and apply the seccomp
    filter every command runs under here (asked once per process: it does not change under a
    run)."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    with keyring_filter() as fd:
        probe = subprocess.run(
            [exe, "--unshare-all", "--die-with-parent", "--seccomp", str(fd), "--ro-bind", "/",
             "/", "true"], capture_output=True, timeout=10, pass_fds=(fd,))
    return probe.returncode == 0


def unavailable() -> str | None:
    """Why this backend cannot run here (None when it can)."""
    if not bwrap_available():
        return ("bubblewrap is not usable here: install it (apt-get install bubblewrap) or "
                "use the subprocess tier")
    if sandbox_uid() is not None and not shutil.which("setpriv"):
        return ("setpriv (util-linux) is missing: it drops sandboxed commands to an "
                "unprivileged uid; install util-linux")
    return None


class BwrapBackend(HostProcessBackend):
    """Commands under bubblewrap, as the sandbox's own unprivileged uid."""

    isolation = "bwrap"
    lanes_apart = True

    def __init__(self) -> None:
        super().__init__()
        if (reason := unavailable()) is not None:
            raise SandboxError(reason)
        self.uid = sandbox_uid()
        self._shares: list[Share] = []

    def share(self, host: Path, inside: str | None, writable: bool) -> str:
        """Bind `host` into every later command (a bind per command: each is its own
        namespace)."""
        shown = placed(host, inside, writable, len(self._shares))
        self._shares.append(shown)
        return shown.inside

    def limits(self, quota: int, quota_mounted: bool) -> dict[str, Any]:
        return self._host_limits(capabilities="none", tmp=f"{TMP_SIZE} bytes tmpfs",
                                 quota=quota, quota_mounted=quota_mounted)

    def workspace_path(self, area: str, rel: str = "") -> str:
        return f"{SANDBOX_ROOT}/{area}" + (f"/{rel}" if rel else "")

    def _drop_privileges(self) -> list[str]:
        """The in-sandbox prefix that switches to the sandbox's uid with no capabilities."""
        if self.uid is None:
            return []
        uid = str(self.uid)
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]

    def _argv(self, command: str, cwd: str, env: dict[str, str],
              grading: Path | None) -> list[str]:
        """`grading`: a lane's own area shown at the grading area's place, and its own copy
        of the repo, read-only, in place of the live repo (a grading lane: its jobs run
        beside the other lane's and must not reach its copy, nor write where the agent reads;
        code that reads ``$WORKSPACE/repo`` still finds the files it was graded on)."""
        workspace = self.workspace
        if self.uid is not None:
            # no user namespace: the setpriv below must reach a real unprivileged uid, the
            # only kind RLIMIT_NPROC binds
            argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                    "--unshare-cgroup-try"]
        else:
            argv = ["bwrap", "--unshare-all", "--cap-drop", "ALL"]
        argv += ["--die-with-parent", "--new-session", "--clearenv"]
        for top in ("/usr", "/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime",
                    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"):
            argv += ["--ro-bind-try", top, top]
        for link in ("bin", "lib", "lib64", "sbin"):
            host = Path("/") / link
            if host.is_symlink():
                argv += ["--symlink", os.readlink(host), f"/{link}"]
            elif host.is_dir():
                argv += ["--ro-bind", str(host), f"/{link}"]
        # /tmp first: the interpreter may live under /tmp (a venv in a fresh clone there),
        # and a later tmpfs would hide its bind.
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
        binds = [Share(Path(p), p, writable=False) for p in interpreter_prefixes()]
        # a lane of its own sees no share: the hidden tests wrote themselves into a harness's
        # writable state folder (helper-36), and read-only still lets a job connect to a
        # socket there, the model proxy's (helper-37)
        binds += self._shares if grading is None else []
        for folder in sorted({a for b in binds for a in parents(b.inside)} - _MOUNTED):
            # bwrap would create a bind's parents with the host's modes (0700 for /root),
            # which an unprivileged uid could not traverse
            argv += ["--perms", "0755", "--dir", folder]
        for bind in binds:
            argv += ["--bind" if bind.writable else "--ro-bind", str(bind.host), bind.inside]
        argv += ["--perms", "0755", "--dir", SANDBOX_ROOT]
        if grading is None:
            grading = workspace.grading
            argv += ["--bind", str(workspace.repo), f"{SANDBOX_ROOT}/{REPO}"]
        else:
            argv += ["--ro-bind", str(grading / REPO), f"{SANDBOX_ROOT}/{REPO}"]
        argv += ["--ro-bind", str(grading), f"{SANDBOX_ROOT}/{GRADING}",
                 "--bind-try", str(grading / REPO), f"{SANDBOX_ROOT}/{GRADING}/{REPO}",
                 "--bind-try", str(grading / RUN), f"{SANDBOX_ROOT}/{GRADING}/{RUN}",
                 "--chdir", f"{SANDBOX_ROOT}/{cwd}"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return [*argv, *self._drop_privileges(), "/bin/sh", "-c", command]

    def command(self, command: str, cwd: str, env: dict[str, str],
                grading: Path | None = None) -> tuple[list[str], Path, dict[str, str]]:
        env = {**env, "WORKSPACE": SANDBOX_ROOT, "HOME": "/tmp", "TMPDIR": "/tmp"}
        return (self._argv(command, cwd, env, grading), self.workspace.root,
                {"PATH": os.environ.get("PATH", "")})

    @contextlib.contextmanager
    def launch(self, command: str, cwd: str, env: dict[str, str], grading: Path | None = None,
               ) -> Iterator[tuple[list[str], Path, dict[str, str], tuple[int, ...]]]:
        """As `command`, under the seccomp filter that takes keyrings away (seccomp.py)."""
        argv, host_cwd, host_env = self.command(command, cwd, env, grading)
        with keyring_filter() as fd:
            yield [argv[0], "--seccomp", str(fd), *argv[1:]], host_cwd, host_env, (fd,)

    def exec(self, command: str, *, cwd: str, timeout: float, env: dict[str, str],
             cap: int, address_space: bool = True, grading: Path | None = None) -> ExecResult:
        with self.launch(command, cwd, env, grading) as (argv, host_cwd, host_env, fds):
            return run_capped(argv, cwd=host_cwd, env=host_env, timeout=timeout, cap=cap,
                              preexec=self.preexec(timeout, address_space=address_space),
                              pass_fds=fds)
