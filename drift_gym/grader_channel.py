"""The grading job's result channel (runtime module: standard library only, no drift_gym
import; staged into the grading area beside ``grader_runtime.py``).

The code under test is an adversary (DESIGN.md section 4b). Before any agent module is
imported, the job takes a per-grading nonce out of a file it then deletes and duplicates the
real stdout; every result goes out on that descriptor as a ``@@DG@@<nonce>`` frame, and the job
ends with ``os._exit`` right after its last frame, so no ``atexit`` hook, thread or buffered
writer of the agent's code can run after it. A ``start`` frame, written before any agent code
runs, tells the grader that its own side worked: a job that started and did not finish died
by the agent's code. The grader (``drift_gym/job_report.py``) reads each frame once, rejects
duplicates, frames after the end and frames with the wrong nonce.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import json.encoder
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FRAME = "@@DG@@"
# bound before any agent module is imported: code that monkeypatches json.dumps, os.write or
# os._exit cannot change what the channel sends or when the job ends
_DUMPS, _WRITE, _EXIT = json.dumps, os.write, os._exit
_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ESCAPE = getattr(json.encoder, "c_encode_basestring_ascii", None)
"""The C encoder ``json.dumps(value, default=str)`` ends in, bound before any agent module is
imported: ``json.dumps`` itself is Python code that reads its keyword defaults from a dict,
and code that put its own encoder class into ``json.dumps.__kwdefaults__`` rewrote every
frame (failed tests reported passed, a probe report emptied). None where the interpreter
has no C accelerator (then ``json.dumps`` as bound)."""
F_SETPIPE_SZ = 1031  # fcntl: a pipe's capacity (Linux)
PIPE_SIZE = 1 << 20
"""Capacity asked for a pipe a job or the compiler writes (the unprivileged maximum by
default), so that the writer rarely waits for the server to read."""


def roomy_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) holding `PIPE_SIZE` bytes where the kernel allows."""
    read, write = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write, F_SETPIPE_SZ, PIPE_SIZE)
    return read, write


NONCE_FILE = ".grading-nonce"  # in the job's working folder, grading/run
GUARD_STATUS = 97
"""The exit status of a job that caught the code under test changing what the job runs on
(grader_guard): the job ends at once with it, so that the verdict does not rest on a frame,
which code that owns the job's descriptors can filter out. The host reads it as forgery."""


def dumps(value: object) -> str:
    """JSON text, as ``json.dumps(value, default=str)`` writes it, through the encoder made
    before agent code ran."""
    if _MAKE_ENCODER is None or _ESCAPE is None:
        return _DUMPS(value, default=str)
    return "".join(_MAKE_ENCODER({}, str, _ESCAPE, None, ": ", ", ", False, False, True)(
        value, 0))


def loaded_runtime_files(also: Iterable[str] = ()) -> frozenset[str]:
    """The files of the runtime modules loaded now (and `also`), as code objects name them:
    whose code the channel and the guard trust (taken before any agent code runs)."""
    files = {getattr(module, "__file__", None) for name, module in list(sys.modules.items())
             if name.startswith("grader_")} | set(also)
    found = {f for f in files if isinstance(f, str)}
    return frozenset(found | {os.path.realpath(f) for f in found})


def _sender(nonce: str, runtime: frozenset[str]) -> Any:
    """The function that makes a frame, with the nonce as its default: the nonce is kept
    nowhere else (not on the channel, where the code under test once found it through the
    plugin registry and sent passes for tests that never ran), and only the runtime's own
    code may have a frame made (anyone else ends the job with `GUARD_STATUS`)."""
    def frame(kind: str, payload: object, _nonce: str = nonce,
              _runtime: frozenset[str] = runtime, _caller: Any = sys._getframe,
              _own: str = __file__, _exit: Any = _EXIT) -> bytes:
        asker = _caller(1)
        while asker is not None and asker.f_code.co_filename == _own:
            asker = asker.f_back  # the channel's own send and end: who called them
        if asker is None or asker.f_code.co_filename not in _runtime:
            _exit(GUARD_STATUS)
        return f"\n{FRAME}{_nonce} {dumps({'kind': kind, 'data': payload})}\n".encode()

    return frame


class Channel:
    """The job's only trusted output: frames on a private duplicate of the real stdout.
    The nonce arrives in a file the job deletes before any agent code runs (not in argv or
    the environment, which other processes of the sandbox could read in /proc), and stays
    in the defaults of `frame` (see `_sender`); `also`: files besides the runtime's whose
    code may send (a test's driver)."""

    __slots__ = ("_fd", "frame")

    def __init__(self, also: Iterable[str] = ()) -> None:
        nonce_file = Path(NONCE_FILE)
        nonce = nonce_file.read_text(encoding="utf-8").strip()
        nonce_file.unlink()
        self._fd = os.dup(1)
        self.frame = _sender(nonce, loaded_runtime_files(also))
        """One frame, encoded as `send` writes it (for a writer that must hold no reference
        to this object, see grader_guard.tripwire)."""

    @property
    def fd(self) -> int:
        return self._fd

    def send(self, kind: str, payload: object) -> None:
        _WRITE(self._fd, self.frame(kind, payload))

    def end(self, status: int) -> None:
        """The last frame, then leave at once: nothing of the agent's code runs after it.
        (The job's own output is flushed first, so that the transcript is complete.)"""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        self.send("end", {"status": status})
        _EXIT(status)


class Capped:
    """Keeps the head and the tail of a stream within a byte budget: the one reader of
    capped output, for the host reading a cold command and the warm grader reading a job, so
    both give the same text with the same omission marker."""

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
