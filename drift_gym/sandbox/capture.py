"""Reading a command's output under a byte cap, and running host processes with a deadline.

Every backend reads output through `Capped`: an agent's command can print gigabytes, and
neither the host's memory nor the agent's next observation may pay for it. `run_capped` is the
host-process runner of the bubblewrap and subprocess backends.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ..grader_channel import Capped
from .base import ExecResult, SandboxError
from .limits import apply_rlimits

OUTPUT_CAP = 1024 * 1024


def timeout_note(timeout: float) -> str:
    """The line a timed-out command's stderr ends with (the same on every backend)."""
    return f"\n[timed out after {timeout:g}s; process tree killed]"


def captured(exit_code: int, out: Capped, err: Capped, *, timed_out: bool, timeout: float,
             started: float) -> ExecResult:
    """The result of a command whose streams were read into `out` and `err`."""
    return ExecResult(
        exit_code=124 if timed_out else exit_code,
        stdout=out.text(),
        stderr=err.text() + (timeout_note(timeout) if timed_out else ""),
        timed_out=timed_out,
        truncated=out.truncated or err.truncated,
        duration_s=time.monotonic() - started,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_capped(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, cap: int = OUTPUT_CAP,
    preexec: Callable[[], None] | None = None, pass_fds: tuple[int, ...] = (),
) -> ExecResult:
    """Run argv in its own session; cap output; on timeout or exit kill the whole group.

    `preexec` runs in the child between fork and exec (limits, cgroup, uid switch);
    `pass_fds` stay open in it (a seccomp filter bubblewrap reads).
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, pass_fds=pass_fds,
            preexec_fn=preexec or (lambda: apply_rlimits(int(timeout) + 5, nproc=False)),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"could not start {argv[0]}: {exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    streams = {proc.stdout: Capped(cap), proc.stderr: Capped(cap)}
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
    return captured(proc.returncode, streams[proc.stdout], streams[proc.stderr],
                    timed_out=timed_out, timeout=timeout, started=start)
