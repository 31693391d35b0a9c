"""The repo's modules compiled ahead for later jobs (runtime module: standard library only, no
drift_gym import; staged into the grading area beside ``grader_runtime.py``).

Every graded job imports the staged copy of the repo afresh, and compiling its modules from
source was about a tenth of a hidden-test job's time (some 8 ms for the 18 modules of a
scenario repo), paid again by the probe and again at every step, though a step changes one or
two files (the agent's own test runs, forks too, import the live repo the same way). So while
a job runs, the warm server has the repo's ``.py`` files it holds no code for compiled
(`start`), and keeps what comes back (`finish`), keyed by **path and exact source bytes**: in
later jobs, ``SourceFileLoader.source_to_code`` (`install`) hands back the
kept code object only for the very bytes an import has just read, and compiles anything else
as it always would. A file a job changed, or one read differently, is compiled afresh.

The copy is the agent's, and compiling it is not harmless: on Python 3.11 one 64 KiB
``match`` pattern of 11,000 captures takes 31 s and 10 GiB to compile, and a file of folded
string constants makes a code object 750 times its size (found by a red-team pass, session
13). So the server never compiles: a fork of it does, under an address-space limit, and is
killed when the job ends (plus `GRACE`) or its processor second is spent, at the lowest
priority, so that it slows no job; it sends each code object back marshalled, and the
server keeps only those no larger than `MAX_GROWTH` times their source, up to `MAX_KEPT`
bytes in all. A file whose compiling warned (a ``SyntaxWarning``) is not kept, so that the job
compiles it and warns as a cold run would. The server reads the copy warily: no link is
followed, nothing but a regular file is opened (a FIFO would block it), and files over
`MAX_FILE` or past `MAX_FILES` are left to the jobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import resource
import select
import stat
import struct
import sys
import time
import types
import warnings
from importlib.machinery import SourceFileLoader
from typing import Any

from grader_channel import roomy_pipe

MAX_FILE = 1 << 16
"""Bytes of the largest source compiled ahead (a scenario module is a few KiB)."""
MAX_FILES = 256
"""Files looked at per job, at most."""
MAX_ENTRIES = 4096
"""Folder entries walked per job, at most (20,000 empty folders took 345 ms to walk)."""
STARVED = 0.05
"""Processor seconds under which a compiler cut off by the time is taken to have lacked a
core rather than to have met a slow file (the file is not counted against)."""
GRACE = 0.02
"""Seconds the compiler may run on after the job it runs beside has ended."""
CUT_OFF = 3
"""Times the time may run out on one file before it is refused."""
CPU_SECONDS = 1
"""Processor time the compiler may use in all (a slow file is refused, never tried again)."""
HEADROOM = 256 << 20
"""Address space the compiler may add to the server's."""
MAX_GROWTH = 16
"""A kept code object's marshalled size, at most, over its source's."""
MAX_KEPT = 32 << 20
"""Bytes of source and marshalled code the kept entries may hold in all; the oldest go
first."""
SKIPPED = ("__pycache__", ".git")
"""Folders never walked (a staged copy has neither: see sandbox/history.py)."""
_RECORD = struct.Struct("<II")
"""A compiled file's record: its index in the list sent, the marshalled code's length."""

_kept: dict[tuple[str, bytes], types.CodeType] = {}
"""(path, source) -> the code compiled from it."""
_sizes: dict[tuple[str, bytes], int] = {}
"""(path, source) -> the bytes its entry holds: the source and the marshalled code."""
_held = [0]
"""The bytes the kept entries hold (the sum of `_sizes`)."""
_refused: dict[tuple[str, bytes], int] = {}
"""(path, source digest) -> how often the compiler was still on it when its time ran out;
`CUT_OFF` or more: refused (it failed, would not have been kept, or is too slow), never
sent again. At most `MAX_NOTED` entries, the oldest dropped first."""
MAX_NOTED = 4096
_running: list[tuple[int, int, list[tuple[str, bytes]]]] = []
"""The compiler now running: its pid, the read end of its pipe, the sources it was given."""


def start(root: str) -> None:
    """In the server, right after a job forked (or ahead of one, see
    grader_server.compile_ahead): a compiler for the sources under `root` (the repo the job
    imports: a grader job's staged copy, the live repo of the agent's own test run) that no
    kept code or refusal covers."""
    sources = [(path, source) for path in _sources(root)
               if (source := _read(path)) is not None
               and (path, source) not in _kept
               and _refused.get(_noted(path, source), 0) < CUT_OFF]
    if not sources:
        return
    try:
        read, write = roomy_pipe()
    except OSError:
        return  # no descriptor to spare (the job's doing): the jobs compile, as cold
    try:
        pid = os.fork()
    except OSError:  # no process to spare: the same
        os.close(read)
        os.close(write)
        return
    if pid == 0:
        os.close(read)
        _compile(sources, write)
    os.close(write)
    _running[:] = [(pid, read, sources)]


def finish(job_ended: float) -> None:
    """In the server, once the job has ended (at `job_ended`, monotonic): keep what the
    compiler sent by then, then kill it (it may run `GRACE` seconds longer)."""
    if not _running:
        return
    pid, read, sources = _running.pop()
    received = bytearray()
    done = False
    try:
        while (left := job_ended + GRACE - time.monotonic()) > 0 \
                and select.select([read], [], [], left)[0]:
            chunk = os.read(read, 1 << 20)
            if not chunk:
                done = True
                break
            received += chunk
    finally:
        os.close(read)
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
        status, used = 0, 0.0
        with contextlib.suppress(ChildProcessError):
            _, status, usage = os.wait4(pid, 0)
            used = usage.ru_utime + usage.ru_stime
    # the file it was on: to blame where the compiler died of its own limits, and counted
    # where the time ran out on it after real work (not where it only lacked a core)
    died = done and os.WIFSIGNALED(status)
    blame = CUT_OFF if died else 1 if not done and used >= STARVED else 0
    _keep_received(received, sources, blame)


def _keep_received(received: bytearray, sources: list[tuple[str, bytes]], blame: int) -> None:
    """Keep each complete record the compiler sent and refuse each file it failed on or
    would not have kept (an empty record); the file it was on when it stopped gets `blame`
    (`CUT_OFF`: refused at once)."""
    view, offset, answered = memoryview(received), 0, 0
    while offset + _RECORD.size <= len(view):
        index, size = _RECORD.unpack_from(view, offset)
        body = view[offset + _RECORD.size: offset + _RECORD.size + size]
        offset += _RECORD.size + size
        if len(body) < size or index != answered or index >= len(sources):
            break
        answered += 1
        path, source = sources[index]
        code = None
        if size:
            with contextlib.suppress(ValueError, EOFError, TypeError):
                code = marshal.loads(body)
        if isinstance(code, types.CodeType):
            _keep(path, source, code, size)
        else:
            _note(path, source, CUT_OFF)
    if answered < len(sources) and blame:
        path, source = sources[answered]
        _note(path, source, blame)


def _noted(path: str, source: bytes) -> tuple[str, bytes]:
    return path, hashlib.sha256(source).digest()


def _note(path: str, source: bytes, times: int) -> None:
    key = _noted(path, source)
    _refused[key] = _refused.pop(key, 0) + times
    while len(_refused) > MAX_NOTED:
        del _refused[next(iter(_refused))]


def _compile(sources: list[tuple[str, bytes]], out: int) -> None:
    """The compiler (a fork of the server): each source compiled, as its import would
    compile it, within its limits; a record per file, empty where it failed or warned.
    Never returns."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # the host's pipes to the server are not its own
            os.dup2(null, fd)
        os.closerange(3, out)
        os.closerange(out + 1, 65536)  # nor are the job's
        os.nice(19)  # the jobs run first
        sys.setrecursionlimit(sys.getrecursionlimit() // 2)
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + HEADROOM, size + HEADROOM))
        for index, (path, source) in enumerate(sources):
            data = b""
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with contextlib.suppress(SyntaxError, ValueError, OverflowError,
                                         RecursionError, MemoryError):
                    code = compile(source, path, "exec", dont_inherit=True)
                    data = marshal.dumps(code) if not caught else b""
            if len(data) > MAX_GROWTH * max(len(source), 1024):
                data = b""
            record = _RECORD.pack(index, len(data)) + data
            while record:
                record = record[os.write(out, record):]
    finally:
        os._exit(0)


def _sources(root: str) -> list[str]:
    """Paths of the ``.py`` files under `root`, links neither followed nor listed."""
    found: list[str] = []
    pending, seen = [root], 0
    while pending and len(found) < MAX_FILES and seen < MAX_ENTRIES:
        with contextlib.suppress(OSError), os.scandir(pending.pop()) as entries:
            for entry in entries:
                seen += 1
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED:
                        pending.append(entry.path)
                elif entry.name.endswith(".py") and entry.is_file(follow_symlinks=False):
                    found.append(entry.path)
    return found[:MAX_FILES]


def _read(path: str) -> bytes | None:
    """The bytes of the regular file at `path`, None for anything else or anything larger
    than `MAX_FILE` (opened without following a link and without blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
            return None
        data = os.read(fd, MAX_FILE + 1)
        return data if len(data) <= MAX_FILE else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _keep(path: str, source: bytes, code: types.CodeType, size: int) -> None:
    _kept[(path, source)] = code
    _sizes[(path, source)] = size + len(source)
    _held[0] += size + len(source)
    while _held[0] > MAX_KEPT:
        oldest = next(iter(_kept))
        _held[0] -= _sizes.pop(oldest)
        del _kept[oldest]


def forget(keep: dict[str, str]) -> None:
    """Before a new episode: stop the compiler and drop everything kept and noted (the last
    episode's code, which the agent's own test runs, forks of the server, could read) but
    the code of the files in `keep` (path: SHA-256 of the content), which the new episode
    holds anyway (a GRPO completion restores its row's start state)."""
    if _running:
        pid, read, _ = _running.pop()
        os.close(read)
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    for key in [key for key in _kept if keep.get(key[0]) != hashlib.sha256(key[1]).hexdigest()]:
        del _kept[key]
        _held[0] -= _sizes.pop(key)
    _refused.clear()


def install() -> None:
    """In the server, once: imports of every later fork take the kept code for the bytes
    they read (see the module docstring); every other import compiles as before."""
    original = SourceFileLoader.source_to_code

    def source_to_code(self: Any, data: Any, path: Any, *, _optimize: int = -1,
                       _kept: dict[tuple[str, bytes], types.CodeType] = _kept,
                       _original: Any = original) -> Any:
        if _optimize == -1 and type(data) is bytes and type(path) is str:
            code = _kept.get((path, data))
            if code is not None:
                return code
        return _original(self, data, path, _optimize=_optimize)

    SourceFileLoader.source_to_code = source_to_code  # type: ignore[method-assign]
