"""Local sandbox: bubblewrap when available, else a weaker plain-subprocess tier.

bubblewrap tier: mount, PID, network, IPC and UTS namespaces unshared (no network), a fresh
PID namespace (killing bwrap tears down every process the command started), only the
workspace writable, read-only system and interpreter, a cleared environment (no host secrets),
a 64 MiB tmpfs ``/tmp``. Commands run as an unprivileged uid of the sandbox's own with no
capabilities (bubblewrap as root sets up the mounts, then ``setpriv`` drops to that uid with
an empty bounding set and ``no_new_privs``), so nothing read-only can be remounted.

subprocess tier (``subprocess-weak``): the same uid switch, rlimits, cgroup and cleared
environment, but no filesystem or network isolation. It is named in every result so nobody
mistakes it.

Both tiers: the bounds in :mod:`.limits` (process count, sandbox memory, workspace quota) and
the cleanup layers in :mod:`.workspace`. The git history of the repo lives *outside* the
repo (``<root>/git``): the agent can neither rewrite history nor plant hooks or config that
host-side git would run.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import GRADING, REPO, RUN, BadInput, ExecResult, PathEscape, SandboxError
from .limits import (
    PROCESS_LIMIT,
    SANDBOX_MEMORY_LIMIT,
    TMP_SIZE,
    WORKSPACE_QUOTA,
    Cgroup,
    LimitEvents,
    apply_rlimits,
    sandbox_uid,
)
from .workspace import (
    create_workspace,
    register,
    remove_workspace,
    signals_deferred,
    usage_bytes,
)

OUTPUT_CAP = 1024 * 1024
MAX_READ = 4 * 1024 * 1024
TMP = "tmp"
GIT_DATE = "2025-01-01T00:00:00+0000"
SANDBOX_ROOT = "/sandbox"
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
_MOUNTED = {"/", "/usr", "/tmp", "/proc", "/dev", "/etc", "/bin", "/lib", "/lib64", "/sbin"}
_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFLNK: "a symlink"}


def bwrap_available() -> bool:
    """True when bubblewrap is installed and can create its namespaces here."""
    exe = shutil.which("bwrap")
    if not exe:
        return False
    probe = subprocess.run(
        [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
        capture_output=True, timeout=10,
    )
    return probe.returncode == 0


def _interpreter_prefixes() -> list[str]:
    """The folders the sandbox's Python lives in (virtualenv and base installation)."""
    return sorted({sys.prefix, sys.base_prefix,
                   str(Path(os.path.realpath(sys.executable)).parent.parent)})


def reachable_unprivileged() -> bool:
    """Whether a uid with no rights of its own can run this interpreter on the host (every
    folder above it searchable by others) -- the subprocess tier switches uid only then."""
    for prefix in _interpreter_prefixes():
        for folder in (Path(prefix), *Path(prefix).parents):
            with contextlib.suppress(OSError):
                if not folder.stat().st_mode & stat.S_IXOTH:
                    return False
    return True


def shown_name(path: str) -> str:
    """A file name as observations, transcripts and cache keys show it: bytes that are not
    UTF-8 become ``\\xNN`` escapes (never lone surrogates, which no encoder accepts)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def file_kind(path: Path) -> str | None:
    """What a non-regular, non-folder entry is (None for files and folders)."""
    mode = path.lstat().st_mode
    return _KINDS.get(stat.S_IFMT(mode))


class _Capped:
    """Keeps the head and the tail of a stream within a byte budget."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[: max(0, len(self.tail) - self.cap // 2)]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        if not self.truncated:
            return head + self.tail.decode("utf-8", errors="replace")
        omitted = self.total - len(self.head) - len(self.tail)
        tail = self.tail.decode("utf-8", errors="replace")
        return f"{head}\n[... {omitted} bytes omitted ...]\n{tail}"


def _not_copied(folder: str, names: list[str]) -> set[str]:
    """Caches, and anything that is not a file, folder or symlink (a FIFO would block the
    copy): grading skips them."""
    skipped = {"__pycache__", ".pytest_cache"}
    for name in names:
        with contextlib.suppress(OSError):
            if stat.S_IFMT(os.lstat(os.path.join(folder, name)).st_mode) not in (
                    stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                skipped.add(name)
    return skipped


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_capped(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, cap: int = OUTPUT_CAP,
    preexec: Callable[[], None] | None = None,
) -> ExecResult:
    """Run argv in its own session; cap output; on timeout or exit kill the whole group.

    `preexec` runs in the child between fork and exec (limits, cgroup, uid switch).
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=preexec or (lambda: apply_rlimits(int(timeout) + 5, nproc=False)),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"could not start {argv[0]}: {exc}") from exc
    streams = {proc.stdout: _Capped(cap), proc.stderr: _Capped(cap)}
    selector = selectors.DefaultSelector()
    for stream in streams:
        selector.register(stream, selectors.EVENT_READ)
    deadline = start + timeout
    timed_out = False
    while selector.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            _kill_group(proc)
            deadline = time.monotonic() + 5
        for key, _ in selector.select(timeout=max(0.01, min(remaining, 0.5))):
            chunk = os.read(key.fd, 65536)
            if chunk:
                streams[key.fileobj].add(chunk)  # type: ignore[index]
            else:
                selector.unregister(key.fileobj)
        if proc.poll() is not None:
            _kill_group(proc)  # stragglers holding the pipes open
    selector.close()
    proc.wait()
    out, err = streams[proc.stdout], streams[proc.stderr]
    return ExecResult(
        exit_code=proc.returncode if not timed_out else 124,
        stdout=out.text(),
        stderr=err.text() + (f"\n[timed out after {timeout:g}s; process tree killed]"
                             if timed_out else ""),
        timed_out=timed_out,
        truncated=out.truncated or err.truncated,
        duration_s=time.monotonic() - start,
    )


class LocalSandbox:
    """A workspace in a temp dir; commands under bubblewrap or the weak subprocess tier."""

    def __init__(self, *, tier: str = "auto", output_cap: int = OUTPUT_CAP,
                 quota: int = WORKSPACE_QUOTA, quota_mount: bool = True) -> None:
        if tier not in ("auto", "bwrap", "subprocess"):
            raise ValueError(f"unknown sandbox tier {tier!r}: use auto, bwrap or subprocess")
        use_bwrap = bwrap_available() if tier == "auto" else tier == "bwrap"
        if tier == "bwrap" and not bwrap_available():
            raise SandboxError("bubblewrap is not usable here: install it (apt-get install "
                               "bubblewrap) or use the subprocess tier")
        self._bwrap = use_bwrap
        self._cap = output_cap
        self._uid = sandbox_uid() if use_bwrap or reachable_unprivileged() else None
        if self._uid is not None and use_bwrap and not shutil.which("setpriv"):
            raise SandboxError("setpriv (util-linux) is missing: it drops sandboxed commands "
                               "to an unprivileged uid; install util-linux")
        self.quota = quota
        self._closed = False
        self.over_quota = False
        self._cgroup: Cgroup | None = None
        with signals_deferred():
            self.root, self._quota_mounted = create_workspace(quota=quota, mount=quota_mount)
            register(self)
        self.repo = self.root / REPO
        self.grading = self.root / GRADING
        self.tmp = self.root / TMP
        self._git_dir = self.root / "git"
        for path in (self.repo, self.grading, self.tmp):
            path.mkdir()
        self._cgroup = Cgroup.create(self.root.name)
        self._git("init", "-q", "-b", "main")

    @property
    def isolation(self) -> str:
        return "bwrap" if self._bwrap else "subprocess-weak"

    @property
    def limits(self) -> dict[str, Any]:
        """What this sandbox enforces, as recorded with every episode."""
        cgroup = self._cgroup
        return {
            "uid": "its own unprivileged uid" if self._uid is not None else
            f"host user {os.geteuid()} (not switched: " + (
                "not root)" if os.geteuid() else "the interpreter is not reachable by others)"),
            "capabilities": "none" if self._uid is not None or self._bwrap else "host user's",
            "process_limit": PROCESS_LIMIT if (cgroup or self._uid is not None) else None,
            "sandbox_memory": SANDBOX_MEMORY_LIMIT if cgroup and cgroup.bounds_memory
            else None,
            "tmp": f"{TMP_SIZE} bytes tmpfs" if self._bwrap else "workspace tmp/ (quota)",
            "workspace_quota": self.quota,
            "quota_enforced_by": "tmpfs" if self._quota_mounted else "check after each command",
        }

    # -- paths -------------------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        """The host path of a repo-relative path; refuses every way out of the repo, and
        paths through symlinks (the tools act on real files only)."""
        if not isinstance(path, str) or not path.strip():
            raise PathEscape("path is empty: give a path relative to the repo root")
        if "\x00" in path:
            raise PathEscape(f"path {path!r} contains a NUL byte")
        candidate = Path(path)
        if candidate.is_absolute():
            raise PathEscape(f"path {path!r} is absolute: give a path relative to the repo root")
        if ".." in candidate.parts:
            raise PathEscape(f"path {path!r} contains '..': stay inside the repo")
        repo = self.repo.resolve()
        resolved = (repo / candidate).resolve()
        if resolved != repo and not resolved.is_relative_to(repo):
            raise PathEscape(f"path {path!r} leads outside the repo (through a symlink)")
        if resolved != repo / candidate:
            raise PathEscape(f"path {path!r} goes through a symlink: the tools act on real "
                             "files only (use `run` to inspect links)")
        return resolved

    def _regular(self, target: Path, path: str) -> None:
        """Refuse named pipes, sockets and devices (opening a FIFO would block the host)."""
        if (kind := file_kind(target)) is not None:
            raise BadInput(f"{path} is {kind}: the tools read and write regular files only")

    def read_file(self, path: str) -> str:
        target = self.resolve(path)
        if not target.exists():
            raise FileNotFoundError(f"{path}: no such file in the repo")
        self._regular(target, path)
        if not target.is_file():
            raise IsADirectoryError(f"{path} is a directory")
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_READ + 1)
        text = data[:MAX_READ].decode("utf-8", errors="replace")
        return text + ("\n[... file truncated ...]" if len(data) > MAX_READ else "")

    def write_file(self, path: str, content: str) -> None:
        target = self.resolve(path)
        if target.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        if target.exists() or target.is_symlink():
            self._regular(target, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.resolve(path)  # a parent created above must not have been a symlink out
        data = content.encode("utf-8", errors="surrogateescape")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK
                     | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def list_files(self, path: str = ".") -> list[str]:
        base = self.resolve(path)
        repo = self.repo.resolve()
        if base.is_file():
            return [shown_name(base.relative_to(repo).as_posix())]
        if not base.is_dir():
            raise FileNotFoundError(f"{path}: no such directory in the repo")
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".pytest_cache"))
            for name in filenames:
                entry = Path(dirpath) / name
                shown = shown_name(entry.relative_to(repo).as_posix())
                kind = file_kind(entry)
                found.append(shown if kind is None else f"{shown} ({kind})")
        return sorted(found)

    # -- exec --------------------------------------------------------------------------
    def _drop_privileges(self) -> list[str]:
        """The in-sandbox prefix that switches to the sandbox's uid with no capabilities."""
        if self._uid is None:
            return []
        uid = str(self._uid)
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]

    def _bwrap_argv(self, command: str, cwd: str, env: dict[str, str]) -> list[str]:
        if self._uid is not None:
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
        prefixes = _interpreter_prefixes()
        for folder in sorted({str(a) for p in prefixes for a in Path(p).parents} - _MOUNTED):
            # bwrap would create a bind's parents with the host's modes (0700 for /root),
            # which an unprivileged uid could not traverse
            argv += ["--perms", "0755", "--dir", folder]
        for prefix in prefixes:
            argv += ["--ro-bind", prefix, prefix]
        argv += ["--perms", "0755", "--dir", SANDBOX_ROOT,
                 "--bind", str(self.repo), f"{SANDBOX_ROOT}/{REPO}",
                 "--ro-bind", str(self.grading), f"{SANDBOX_ROOT}/{GRADING}",
                 "--bind-try", str(self.grading / REPO), f"{SANDBOX_ROOT}/{GRADING}/{REPO}",
                 "--bind-try", str(self.grading / RUN), f"{SANDBOX_ROOT}/{GRADING}/{RUN}",
                 "--chdir", f"{SANDBOX_ROOT}/{cwd}"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return [*argv, *self._drop_privileges(), "/bin/sh", "-c", command]

    def _hand_over(self) -> None:
        """Give the workspace's files to the sandbox's uid (host-side writes are root's)."""
        if self._uid is None:
            return
        for top in (self.repo, self.grading / REPO, self.grading / RUN, self.tmp):
            if not top.is_dir():
                continue
            os.lchown(top, self._uid, self._uid)
            for dirpath, dirnames, filenames in os.walk(top):
                for name in dirnames + filenames:
                    with contextlib.suppress(OSError):
                        os.lchown(os.path.join(dirpath, name), self._uid, self._uid)

    def _preexec(self, timeout: float) -> Callable[[], None]:
        uid, cgroup, switch = self._uid, self._cgroup, not self._bwrap

        def run() -> None:
            apply_rlimits(int(timeout) + 5, nproc=uid is not None)
            if cgroup is not None:
                cgroup.attach_self()
            if switch and uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
        return run

    def exec(
        self, command: str, *, cwd: str = REPO, timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        if cwd not in (REPO, GRADING):
            raise ValueError(f"cwd must be {REPO!r} or {GRADING!r}, not {cwd!r}")
        extra = env or {}
        if any("\x00" in text for text in (command, *extra, *extra.values())):
            raise BadInput("the command contains a NUL byte, which no shell accepts")
        full_env = {
            **SAFE_ENV,
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "DRIFT_GYM_SANDBOX": self.isolation,
            **extra,
        }
        self._hand_over()
        before = self._cgroup.events() if self._cgroup else LimitEvents()
        if self._bwrap:
            full_env.update(WORKSPACE=SANDBOX_ROOT, HOME="/tmp", TMPDIR="/tmp")
            argv = self._bwrap_argv(command, cwd, full_env)
            result = run_capped(argv, cwd=self.root, env={"PATH": os.environ.get("PATH", "")},
                                timeout=timeout, cap=self._cap, preexec=self._preexec(timeout))
        else:
            full_env.update(WORKSPACE=str(self.root), HOME=str(self.tmp), TMPDIR=str(self.tmp))
            result = run_capped(["/bin/sh", "-c", command], cwd=self.root / cwd, env=full_env,
                                timeout=timeout, cap=self._cap, preexec=self._preexec(timeout))
            if self._cgroup is not None:
                self._cgroup.kill_all()  # a setsid escapee is still in the cgroup
        return self._with_limits(result, before)

    def _with_limits(self, result: ExecResult, before: LimitEvents) -> ExecResult:
        """Say which sandbox-wide limit the command hit, in the result and its stderr."""
        notes = []
        if self._cgroup is not None:
            after = self._cgroup.events()
            if after.forks_refused > before.forks_refused:
                notes.append(f"process limit reached ({PROCESS_LIMIT} processes): "
                             f"{after.forks_refused - before.forks_refused} forks refused")
            if after.oom_kills > before.oom_kills:
                notes.append(f"memory limit reached ({SANDBOX_MEMORY_LIMIT // 2**20} MiB for "
                             "the sandbox): a process was killed")
        if "MemoryError" in result.stderr and not any("memory" in n for n in notes):
            notes.append("memory limit reached (per-process address space): MemoryError")
        used = usage_bytes(self.root, mounted=self._quota_mounted, limit=self.quota)
        if used >= self.quota:
            self.over_quota = True
            notes.append(f"workspace quota exceeded ({used // 2**20} MiB used of "
                         f"{self.quota // 2**20} MiB)")
        if not notes:
            return result
        text = "; ".join(notes)
        return ExecResult(result.exit_code, result.stdout,
                          f"{result.stderr}\n[sandbox: {text}]".lstrip("\n"),
                          result.timed_out, result.truncated, result.duration_s, limit=text)

    def workspace_path(self, area: str, rel: str = "") -> str:
        """How a workspace path is spelled *inside* the sandbox (for commands)."""
        base = SANDBOX_ROOT if self._bwrap else str(self.root)
        return f"{base}/{area}" + (f"/{rel}" if rel else "")

    # -- grading area ------------------------------------------------------------------
    def stage_grading(self, files: dict[str, str]) -> None:
        """Only ``grading/repo`` and ``grading/run`` are writable by the jobs; the hidden
        tests, their ini and the runtime stay the grader's (read-only mount under bubblewrap,
        root-owned with the uid switch), so code imported by one test module cannot rewrite
        the next one before it is collected."""
        self.clear_grading()
        shutil.copytree(self.repo, self.grading / REPO, symlinks=True, ignore=_not_copied)
        (self.grading / RUN).mkdir()
        for rel, content in files.items():
            target = self.grading / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")

    def write_grading(self, rel: str, content: str) -> None:
        target = self.grading / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.write_text(content, encoding="utf-8")

    def read_grading(self, rel: str) -> str | None:
        target = self.grading / rel
        if not target.is_file() or target.is_symlink():
            return None
        return target.read_text(encoding="utf-8", errors="replace")

    def clear_grading(self) -> None:
        for child in self.grading.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    # -- history -----------------------------------------------------------------------
    def _git(self, *args: str, author: str | None = None) -> str:
        env = {
            "GIT_DIR": str(self._git_dir), "GIT_WORK_TREE": str(self.repo),
            "GIT_AUTHOR_NAME": "drift-gym", "GIT_AUTHOR_EMAIL": "drift-gym@localhost",
            "GIT_COMMITTER_NAME": "drift-gym", "GIT_COMMITTER_EMAIL": "drift-gym@localhost",
            "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE,
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": str(self.root),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        if author:
            env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = author
        done = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
             "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
            cwd=self.repo, env=env, capture_output=True, timeout=60,
        )
        if done.returncode != 0:
            raise SandboxError(f"git {args[0]} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode("utf-8", errors="replace")

    def snapshot(self, label: str, *, author: str | None = None) -> str:
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "--no-verify", "-m", label, author=author)
        return self._git("rev-parse", "HEAD").strip()

    def log(self, limit: int) -> str:
        return self._git("log", f"-{max(1, limit)}", "--no-color", "--format=commit %h%n"
                         "Author: %an%n%n%w(0,4,4)%B")

    def diff(self, base: str, head: str) -> str:
        return self._git("diff", "--no-color", "--no-ext-diff", "--no-textconv", "-U3",
                         base, head)

    def changed_files(self, base: str, head: str) -> list[tuple[str, str]]:
        """(status letter, path) of every file that differs between two snapshots."""
        out = self._git("diff", "--name-status", "--no-renames", base, head)
        return [(line[0], line.split("\t", 1)[1]) for line in out.splitlines() if "\t" in line]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._cgroup is not None:
            self._cgroup.remove()
        remove_workspace(self.root)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self, _suppress: type[contextlib.suppress] = contextlib.suppress) -> None:
        # bound as a default: at interpreter exit the module's globals may already be None
        with _suppress(Exception):
            self.close()
