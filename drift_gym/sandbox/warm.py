"""The warm grader, host side: one long-lived ``grader_runtime.py serve`` per sandbox.

Cold grading starts a fresh sandboxed interpreter per job and pays interpreter start, pytest
import and plugin discovery every time. The server has imported everything jobs share (pytest,
the probe runtime, the standard library the repos use) but never the repo under test; each
job runs in a ``fork()`` of it, inside the same sandbox (namespaces, uid, rlimits, cgroup),
imports the repo fresh, writes its frames to a file in ``grading/run`` and exits; the server
kills whatever the job left. Nothing a job does reaches the next one: a fork's memory dies
with it, the grading area is restaged, leftovers are killed, and the server is not
ptrace-able or dumpable by its jobs. The result channel is the one the grader already
trusts (nonce frames); this layer only moves bytes.

A server that dies (a job killed it) is restarted for the next job; the job that was running
gets no answer and is reported as killed (exit 137), which the grader treats as a job that
died — the agent's failure, never an infrastructure error.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import selectors
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .base import ExecResult, SandboxError
from .grading_area import WRITABLE

JOB_OUTPUT = "job.out"
START_TIMEOUT = 30.0


class WarmGrader:
    """Runs grading jobs in forks of one server; `spawn` starts the server in the sandbox."""

    def __init__(self, spawn: Callable[[], subprocess.Popen[bytes]], *, run_host: Path,
                 run_inside: str, grading_inside: str | None = None) -> None:
        """`grading_inside`: the grading area as jobs see it; the server compiles ahead only
        test files there outside the job-writable folders (None: nothing ahead)."""
        self._spawn = spawn
        self._run_host = run_host
        self._run_inside = run_inside
        self._owned = None if grading_inside is None else {
            "root": grading_inside, "writable": list(WRITABLE)}
        self._proc: subprocess.Popen[bytes] | None = None
        self._ids = itertools.count(1)

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.close()
        proc = self._spawn()
        answer = self._read_line(proc, START_TIMEOUT)
        if answer is None or "ready" not in answer:
            stderr = b""
            with contextlib.suppress(Exception):
                proc.kill()
                stderr = proc.stderr.read()[-600:] if proc.stderr else b""
            raise SandboxError("the warm grader did not start: "
                               f"{stderr.decode('utf-8', 'replace')}")
        self._proc = proc
        return proc

    @staticmethod
    def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> dict | None:
        """One JSON line from the server within `timeout` (None: it died or stalled)."""
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            buffer = b""
            while time.monotonic() < deadline:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
                if not chunk:
                    return None
                buffer += chunk
                if b"\n" in buffer:
                    line = buffer.split(b"\n", 1)[0]
                    try:
                        answer = json.loads(line)
                    except ValueError:
                        return None
                    return answer if isinstance(answer, dict) else None
        return None

    def run(self, argv: list[str], *, timeout: float, cap: int) -> ExecResult:
        """Run one job (``grader_runtime.py ARGV`` semantics) and return what it wrote."""
        start = time.monotonic()
        proc = self._ensure()
        job_id = next(self._ids)
        out_host = self._run_host / JOB_OUTPUT
        request = {"id": job_id, "argv": argv, "cwd": self._run_inside, "timeout": timeout,
                   "out": f"{self._run_inside}/{JOB_OUTPUT}", "owned": self._owned}
        assert proc.stdin is not None
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
        except OSError:
            answer = None
        else:
            answer = self._read_line(proc, timeout + 15)
        if answer is None or answer.get("id") != job_id:
            self.close()  # it died with the job, or stalled: the next job gets a new one
            answer = {"exit_code": 137, "timed_out": False}
        stdout, truncated = _read_capped(out_host, cap)
        return ExecResult(exit_code=int(answer.get("exit_code", 137)), stdout=stdout,
                          stderr="", timed_out=bool(answer.get("timed_out")),
                          truncated=truncated, duration_s=time.monotonic() - start)

    def close(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(Exception):
            self._proc.kill()
            self._proc.wait(timeout=5)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        self._proc = None


def _read_capped(path: Path, cap: int) -> tuple[str, bool]:
    """The head and tail of a job's output within `cap` bytes (as for a cold job's stdout)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if size <= cap:
                return handle.read().decode("utf-8", errors="replace"), False
            head = handle.read(cap // 2)
            handle.seek(size - cap // 2)
            tail = handle.read()
    except OSError:
        return "", False
    omitted = size - len(head) - len(tail)
    return (f"{head.decode('utf-8', 'replace')}\n[... {omitted} bytes omitted ...]\n"
            f"{tail.decode('utf-8', 'replace')}"), True
