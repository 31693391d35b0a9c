"""The warm grader, host side: one long-lived ``grader_runtime.py serve`` per sandbox and
lane (see lanes.py: the agent's own test runs, the probe and the hidden tests each have one).

Cold grading starts a fresh sandboxed interpreter per job and pays interpreter start, pytest
import and plugin discovery every time. The server has imported everything jobs share (pytest,
the probe runtime, the standard library the repos use) but never the repo under test; each
job runs in a ``fork()`` of it, inside the same sandbox (namespaces, uid, rlimits, cgroup),
imports the repo fresh, writes its output to pipes the server reads under the output cap and
exits; the server kills whatever the job left and answers with the output. Nothing a job
does reaches the next one: a fork's memory dies with it, the grading area is restaged,
leftovers are killed, and the server is not ptrace-able or dumpable by its jobs. The result
channel is the one the grader already trusts (nonce frames); this layer only moves bytes.

A fork shares the modules the server imported; a repo file named like one of them (a
``statistics.py`` at the top of the repo) would be imported by a cold run and not by a fork,
so a job whose repo holds one runs cold (`shadowing`), and a repo's own file names never
make the two import different code.

A server that dies (a job killed it) is restarted for the next job; the job that was running
gets no answer and is reported as killed (exit 137), which the grader treats as a job that
died — the agent's failure, never an infrastructure error.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import itertools
import json
import os
import selectors
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .base import ExecResult, SandboxError
from .capture import timeout_note
from .paths import CACHES
from .trees import walk

START_TIMEOUT = 30.0
START_TRIES = 2
LOST = "[sandbox: the warm grader died or stalled while the job ran]"
"""The stderr of a job whose server took its request and never answered: the job (the
agent's code, in a fork of the server, same uid) killed or stopped it. Grading reads it as a
job that died, never as one that did not start, which would be an infrastructure error (no
reward, no penalty) that one ``os.kill(os.getppid(), SIGKILL)`` could cause."""
_SUFFIXES = sorted(importlib.machinery.all_suffixes(), key=len, reverse=True)


def _module_name(filename: str) -> str | None:
    """The module a file in a ``sys.path`` folder would be imported as (None: not one)."""
    for suffix in _SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None


def shadowing(root: Path, names: frozenset[str]) -> str | None:
    """A file or package anywhere under `root` named like one of `names` (the modules the
    warm server imported), which a cold run could import in their place; None when there is
    none. Anywhere, not only at the top: pytest puts test folders, and an agent's ini its
    ``pythonpath``, on ``sys.path`` too. A namespace folder (no ``__init__``) shadows nothing."""
    if not names:
        return None
    for dirpath, dirnames, filenames in walk(root):
        dirnames[:] = [d for d in dirnames if d not in CACHES]
        for name in filenames:
            if _module_name(name) in names:
                return os.path.relpath(os.path.join(dirpath, name), root)
        for name in dirnames:
            if name in names and any(
                    _module_name(f) == "__init__"
                    for f in os.listdir(os.path.join(dirpath, name))):
                return os.path.relpath(os.path.join(dirpath, name), root)
    return None


class WarmGrader:
    """Runs jobs in forks of one server; `spawn` starts the server in the sandbox."""

    def __init__(self, spawn: Callable[[IO[bytes]], subprocess.Popen[bytes]]) -> None:
        self._spawn = spawn
        self._proc: subprocess.Popen[bytes] | None = None
        self._launched: tuple[subprocess.Popen[bytes], IO[bytes]] | None = None
        """A server spawned by `launch` that `start` has not yet waited for, and its log."""
        self._ids = itertools.count(1)
        self.modules: frozenset[str] = frozenset()
        """The top-level modules the running server imported (see `shadowing`)."""

    def start(self) -> None:
        """Start the server unless it runs (the first job, or one after a job killed it).
        A start that fails is tried once more (before any job of the step, see
        WorkspaceSandbox.hidden_tests_plan), then raises SandboxError with the server's
        last stderr: the step's grading is the grader's failure, not the agent's."""
        if self._proc is not None and self._proc.poll() is None:
            return
        launched, self._launched = self._launched, None
        self.close()
        why = ""
        for _ in range(START_TRIES):
            proc, log = launched or self._spawned()
            launched = None
            with log:
                answer = self._read_line(proc, START_TIMEOUT)
                if answer is not None and "ready" in answer:
                    self.modules = frozenset(str(m) for m in answer.get("modules", []))
                    self._proc = proc
                    return
                self._proc = proc
                self.close()
                why = "no answer" if answer is None else f"answered {str(answer)[:200]}"
                log.seek(max(0, log.seek(0, os.SEEK_END) - 600))
                why += "; stderr: " + log.read().decode("utf-8", "replace")
        raise SandboxError(f"the warm grader did not start ({START_TRIES} tries): {why}")

    def launch(self) -> None:
        """Spawn the server unless it runs, without waiting for it (`start` waits): a step
        that needs two lanes' servers starts both interpreters at once. A spawn that fails
        is left to `start`, which tries again and says why."""
        if self._launched is None and (self._proc is None or self._proc.poll() is not None):
            with contextlib.suppress(Exception):
                self._launched = self._spawned()

    def _spawned(self) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
        """A new server and its stderr: an unlinked host file no job can reach (its fds 2
        are pipes)."""
        log = tempfile.TemporaryFile()  # noqa: SIM115 (start closes it)
        try:
            return self._spawn(log), log
        except BaseException:
            log.close()
            raise

    @staticmethod
    def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> dict | None:
        """One JSON line from the server within `timeout` (None: it died or stalled)."""
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            buffer = bytearray()
            while time.monotonic() < deadline:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                chunk = proc.stdout.read1(1 << 20)  # type: ignore[attr-defined]
                if not chunk:
                    return None
                buffer += chunk
                end = buffer.find(b"\n")
                if end >= 0:  # one line per answer (JSON escapes the newlines of text)
                    try:
                        answer = json.loads(bytes(buffer[:end]))
                    except ValueError:
                        return None
                    return answer if isinstance(answer, dict) else None
        return None

    def run(self, argv: list[str], *, cwd: str, timeout: float, cap: int,
            owned: dict[str, Any] | None = None, sources: str | None = None) -> ExecResult:
        """Run one job (``grader_runtime.py ARGV`` semantics) in `cwd` (as the sandbox spells
        it); its output as a cold command's would be read: each stream capped at `cap`, a
        timeout killing its tree with exit 124 and the same note. `owned`: the grading area's
        grader-owned part (see grader_pytest.prepare); `sources`: the repo whose modules the
        server has compiled beside the job, for the jobs after it (see grader_compile)."""
        start = time.monotonic()
        self.start()
        sent, answer = self._ask({"argv": argv, "cwd": cwd, "timeout": timeout, "cap": cap,
                                  "owned": owned, "sources": sources}, timeout + 15)
        if answer is None:  # it died with the job, or stalled: the next job gets a new one
            answer = {"exit_code": 137, "timed_out": False, "stderr": LOST if sent else ""}
        elif answer.get("retire"):  # the job changed what the server's forks inherit
            self.close()
        timed_out = bool(answer.get("timed_out"))
        stderr = str(answer.get("stderr", ""))
        return ExecResult(exit_code=int(answer.get("exit_code", 137)),
                          stdout=str(answer.get("stdout", "")),
                          stderr=stderr + (timeout_note(timeout) if timed_out else ""),
                          timed_out=timed_out, truncated=bool(answer.get("truncated")),
                          duration_s=time.monotonic() - start)

    def forget(self, keep: dict[str, str]) -> None:
        """Have the server drop what it kept from earlier jobs (compiled modules, rewritten
        hidden tests, see grader_server.forget) before a new episode: the agent's own test
        runs are forks of it, and code there could read them. `keep`: the files (path as
        the sandbox spells it, SHA-256 of the content) the new episode holds anyway, whose
        code stays."""
        self._tell({"forget": True, "keep": keep}, "forgotten")

    def compile_ahead(self, sources: str) -> None:
        """Have the server compile the repo at `sources` (as the sandbox spells it) for its
        next job while a job of the other lane runs (see grader_server.compile_ahead)."""
        self._tell({"compile": sources}, "compiling")

    def _tell(self, request: dict[str, Any], confirmed: str) -> None:
        """Send the running server a request that runs no job; one that does not confirm
        (`confirmed` true in its answer) is closed, and the next job starts a new one."""
        if self._proc is None or self._proc.poll() is not None:
            return
        _, answer = self._ask(request, START_TIMEOUT)
        if answer is not None and answer.get(confirmed) is not True:
            self.close()

    def _ask(self, request: dict[str, Any], timeout: float) -> tuple[bool, dict | None]:
        """Send the running server one request (an id added) and read its answer within
        `timeout`: (sent, the answer, None where the server died, stalled or answered
        another id, having been closed)."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        job_id = next(self._ids)
        try:
            proc.stdin.write((json.dumps({"id": job_id, **request}) + "\n").encode())
            proc.stdin.flush()
        except OSError:
            self.close()
            return False, None
        answer = self._read_line(proc, timeout)
        if answer is None or answer.get("id") != job_id:
            self.close()
            return True, None
        return True, answer

    def close(self) -> None:
        """Kill the server, and one launched but not yet started."""
        launched, self._launched = self._launched, None
        if launched is not None:
            launched[1].close()
            _end(launched[0])
        if self._proc is not None:
            _end(self._proc)
            self._proc = None


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Kill a server process and close its pipes."""
    with contextlib.suppress(Exception):
        proc.kill()
        proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.close()
