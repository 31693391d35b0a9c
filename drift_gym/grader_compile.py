"""The repo's modules compiled once in the warm server (runtime module: standard library only,
no drift_gym import; staged into the grading area beside ``grader_runtime.py``).

Every graded job imports the staged copy of the repo afresh, and compiling its modules from
source was about a tenth of a hidden-test job's time (some 8 ms for the 18 modules of a
scenario repo), paid again by the probe and again at every step, though a step changes one
or two files. Before a grader job forks, the server compiles the copy's ``.py`` files it has
not seen (`precompile`) and keeps the code objects keyed by **path and exact source bytes**;
in the job, ``SourceFileLoader.source_to_code`` (`install`) hands back the kept code object
only for the very bytes the import has just read, and compiles anything else as it always
would. So a file the job changed, or one read differently, is compiled afresh, and nothing is
ever executed in the server: compiling source runs none of it.

The copy is the agent's, so the server reads it warily: no link is followed, nothing but a
regular file is opened (a FIFO would block the server), files over `MAX_FILE` and past
`MAX_FILES` are left to the job, and the compiling stops once a job's `BUDGET` is spent (a
3.11 f-string of 60,000 fields takes two seconds to compile). What the job would compile
itself costs it the same as before; a file the server could not compile (a syntax error) is
remembered as such and compiled by the job, which reports the error as a cold run would.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import types
from importlib.machinery import SourceFileLoader
from typing import Any

MAX_FILE = 1 << 16
"""Bytes of the largest source the server compiles (a scenario module is a few KiB)."""
MAX_FILES = 256
"""Files looked at per job, at most."""
BUDGET = 0.1
"""Seconds a job's compiling may take in the server; the job compiles what is left."""
MAX_KEPT = 8 << 20
"""Bytes of source the kept entries may hold; the oldest go first."""
SKIPPED = ("__pycache__", ".git")
"""Folders never walked (a staged copy has neither: see sandbox/history.py)."""

_kept: dict[tuple[str, bytes], types.CodeType | None] = {}
"""(path, source) -> the code compiled from it, None where it did not compile."""
_held = [0]
"""Bytes of source in `_kept`."""


def precompile(root: str) -> None:
    """In the server, before a grader job forks: compile the sources under `root` not kept
    yet (the job's staged repo copy), within `BUDGET`."""
    deadline = time.monotonic() + BUDGET
    for path in _sources(root):
        if time.monotonic() > deadline:
            return
        source = _read(path)
        if source is None or (path, source) in _kept:
            continue
        try:
            code: types.CodeType | None = compile(source, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
            code = None
        _keep(path, source, code)


def _sources(root: str) -> list[str]:
    """Paths of the ``.py`` files under `root`, links neither followed nor listed."""
    found: list[str] = []
    pending = [root]
    while pending and len(found) < MAX_FILES:
        with contextlib.suppress(OSError), os.scandir(pending.pop()) as entries:
            for entry in entries:
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


def _keep(path: str, source: bytes, code: types.CodeType | None) -> None:
    _kept[(path, source)] = code
    _held[0] += len(source)
    while _held[0] > MAX_KEPT and _kept:
        oldest = next(iter(_kept))
        _held[0] -= len(oldest[1])
        del _kept[oldest]


def install() -> None:
    """In the server, once: imports of every later fork take the kept code for the bytes
    they read (see the module docstring); every other import compiles as before."""
    original = SourceFileLoader.source_to_code

    def source_to_code(self: Any, data: Any, path: Any, *, _optimize: int = -1,
                       _kept: dict[tuple[str, bytes], types.CodeType | None] = _kept,
                       _original: Any = original) -> Any:
        if _optimize == -1 and type(data) is bytes and type(path) is str:
            code = _kept.get((path, data))
            if code is not None:
                return code
        return _original(self, data, path, _optimize=_optimize)

    SourceFileLoader.source_to_code = source_to_code  # type: ignore[method-assign]
