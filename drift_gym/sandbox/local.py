"""Local sandbox: bubblewrap when available, else a weaker plain-subprocess tier.

bubblewrap tier: every namespace unshared (no network), capabilities dropped, a fresh PID
namespace (killing bwrap tears down every process the command started), only the workspace
writable, read-only system and interpreter, a cleared environment (no host secrets), rlimits on
file size, memory and open files.

subprocess tier (``subprocess-weak``): own process group killed on timeout and after exit,
cleared environment, the same rlimits; but no filesystem or network isolation, and a process
that calls ``setsid`` can escape the kill. It is named in every result so nobody mistakes it.

The git history of the repo lives *outside* the workspace (``<root>/git``): the agent can
neither rewrite history nor plant hooks or config that host-side git would run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import GRADING, REPO, ExecResult, PathEscape, SandboxError

OUTPUT_CAP = 1024 * 1024
MAX_READ = 4 * 1024 * 1024
FILE_SIZE_LIMIT = 256 * 1024 * 1024
MEMORY_LIMIT = 4 * 1024 * 1024 * 1024
GIT_DATE = "2025-01-01T00:00:00+0000"
SANDBOX_ROOT = "/sandbox"
SAFE_ENV = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "PYTHONUTF8": "1",
    # The sandbox borrows drift_gym's interpreter; its pytest plugins (hypothesis, xdist, ...)
    # belong to drift_gym, not to the repo under test, and cost ~1.3 s per pytest start.
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
}


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


def _limits(cpu_seconds: int) -> None:
    """Resource limits for the child (runs between fork and exec)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


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


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_capped(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, cap: int = OUTPUT_CAP
) -> ExecResult:
    """Run argv in its own session; cap output; on timeout or exit kill the whole group."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: _limits(int(timeout) + 5),
    )
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

    def __init__(self, *, tier: str = "auto", output_cap: int = OUTPUT_CAP) -> None:
        if tier not in ("auto", "bwrap", "subprocess"):
            raise ValueError(f"unknown sandbox tier {tier!r}: use auto, bwrap or subprocess")
        use_bwrap = bwrap_available() if tier == "auto" else tier == "bwrap"
        if tier == "bwrap" and not bwrap_available():
            raise SandboxError("bubblewrap is not usable here: install it (apt-get install "
                               "bubblewrap) or use the subprocess tier")
        self._bwrap = use_bwrap
        self._cap = output_cap
        self.root = Path(tempfile.mkdtemp(prefix="drift-gym-"))
        self.repo = self.root / REPO
        self.grading = self.root / GRADING
        self._git_dir = self.root / "git"
        for path in (self.repo, self.grading):
            path.mkdir()
        self._git("init", "-q", "-b", "main")

    @property
    def isolation(self) -> str:
        return "bwrap" if self._bwrap else "subprocess-weak"

    # -- paths -------------------------------------------------------------------------
    def resolve(self, path: str) -> Path:
        """The host path of a repo-relative path; refuses every way out of the repo."""
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
        return resolved

    def read_file(self, path: str) -> str:
        target = self.resolve(path)
        if not target.is_file():
            raise FileNotFoundError(f"{path}: no such file in the repo")
        with target.open("rb") as handle:
            data = handle.read(MAX_READ + 1)
        text = data[:MAX_READ].decode("utf-8", errors="replace")
        return text + ("\n[... file truncated ...]" if len(data) > MAX_READ else "")

    def write_file(self, path: str, content: str) -> None:
        target = self.resolve(path)
        if target.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        self.resolve(path)  # a parent created above must not have been a symlink out
        target.write_text(content, encoding="utf-8")

    def list_files(self, path: str = ".") -> list[str]:
        base = self.resolve(path)
        repo = self.repo.resolve()
        if base.is_file():
            return [base.relative_to(repo).as_posix()]
        if not base.is_dir():
            raise FileNotFoundError(f"{path}: no such directory in the repo")
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".pytest_cache"))
            found += [(Path(dirpath) / f).relative_to(repo).as_posix() for f in filenames]
        return sorted(found)

    # -- exec --------------------------------------------------------------------------
    def _bwrap_argv(self, command: str, cwd: str, env: dict[str, str]) -> list[str]:
        argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
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
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for prefix in sorted({sys.prefix, sys.base_prefix,
                              str(Path(os.path.realpath(sys.executable)).parent.parent)}):
            argv += ["--ro-bind", prefix, prefix]
        argv += ["--bind", str(self.repo), f"{SANDBOX_ROOT}/{REPO}",
                 "--bind", str(self.grading), f"{SANDBOX_ROOT}/{GRADING}",
                 "--chdir", f"{SANDBOX_ROOT}/{cwd}"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return [*argv, "/bin/sh", "-c", command]

    def exec(
        self, command: str, *, cwd: str = REPO, timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        if cwd not in (REPO, GRADING):
            raise ValueError(f"cwd must be {REPO!r} or {GRADING!r}, not {cwd!r}")
        full_env = {
            **SAFE_ENV,
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "DRIFT_GYM_SANDBOX": self.isolation,
            **(env or {}),
        }
        if self._bwrap:
            full_env["WORKSPACE"] = SANDBOX_ROOT
            argv = self._bwrap_argv(command, cwd, full_env)
            return run_capped(argv, cwd=self.root, env={"PATH": os.environ.get("PATH", "")},
                              timeout=timeout, cap=self._cap)
        full_env["WORKSPACE"] = str(self.root)
        return run_capped(["/bin/sh", "-c", command], cwd=self.root / cwd, env=full_env,
                          timeout=timeout, cap=self._cap)

    def workspace_path(self, area: str, rel: str = "") -> str:
        """How a workspace path is spelled *inside* the sandbox (for commands)."""
        base = SANDBOX_ROOT if self._bwrap else str(self.root)
        return f"{base}/{area}" + (f"/{rel}" if rel else "")

    # -- grading area ------------------------------------------------------------------
    def stage_grading(self, files: dict[str, str]) -> None:
        self.clear_grading()
        shutil.copytree(self.repo, self.grading / REPO, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        for rel, content in files.items():
            target = self.grading / rel
            target.parent.mkdir(parents=True, exist_ok=True)
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
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self, _suppress: type[contextlib.suppress] = contextlib.suppress) -> None:
        # bound as a default: at interpreter exit the module's globals may already be None
        with _suppress(Exception):
            self.close()
