"""How the code under test could reach the grading job's own objects, and who may (runtime
module: standard library only, no drift_gym import; staged into the grading area beside
``grader_runtime.py``): an interpreter frame (from which every caller's locals are in reach:
pytest's session, the reporter's result channel, the probe's recorder), the collector's
object lists, the code or defaults of the job's functions (where its guards keep what they
hold), a signal handler (which is handed the frame it interrupts). grader_guard's audit hook
ends the job when the code under test asks for any of them on its own behalf.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import types
from typing import Any

READ = "the code or defaults of the runtime's own functions (where its guards keep what they hold)"
FRAMES = "a frame or gc's object lists, taken by the code under test"
FRAME_EVENTS = frozenset({"sys._getframe", "sys._current_frames", "gc.get_objects",
                          "gc.get_referrers", "gc.get_referents"})
FRAME_FIELDS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
"""How Python code gets hold of a frame (or of every object): each a way to the locals of
pytest, the reporter and the runner below the code under test. A helper that read
attributes by a computed name through its parameters (``getattr(owner, name)``, out of
sight of the static rules) walked up from its own frame to the reporter's result channel and
sent passes for tests that never ran, to the collector to swap each item's ``runtest``, and
to the plugin manager to drop the plugin that calls the test function."""


def frame_givers() -> types.MappingProxyType[types.CodeType, str]:
    """The code of the library functions that hand their caller a frame: a frame they ask
    for is asked for by whoever called them. ``logging.currentframe`` (the logger's own
    lambda) handed a helper the frame it walked to the reporter's result channel."""
    import inspect
    import logging
    import traceback

    return types.MappingProxyType({f.__code__: name for name, f in (
        ("currentframe", inspect.currentframe), ("stack", inspect.stack),
        ("trace", inspect.trace), ("getinnerframes", inspect.getinnerframes),
        ("getouterframes", inspect.getouterframes), ("walk_stack", traceback.walk_stack),
        ("walk_tb", traceback.walk_tb), ("currentframe", logging.currentframe))})


def named_givers() -> frozenset[tuple[str, str]]:
    """(file, function) of frame-handing functions of modules a job may import only later:
    pytest's ``TracebackEntry.frame`` (``pytest.ExceptionInfo`` of a raised exception, then
    ``.traceback[0].frame.raw``, was the code's own frame)."""
    purelib = sysconfig.get_paths()["purelib"]
    code = os.path.join(purelib, "_pytest", "_code", "code.py")
    return frozenset({(code, "frame"), (os.path.realpath(code), "frame")})


def asked_by_its_own(frame: Any, asked: str, givers: types.MappingProxyType[types.CodeType, str],
                     named: frozenset[tuple[str, str]], giver_files: frozenset[str],
                     roots: tuple[str, ...], runtime: frozenset[str],
                     trusted: frozenset[str]) -> bool:
    """Whether `frame` (the Python code that asked for `asked`: a frame, an object list, a
    function's defaults, a signal handler) asked on its own behalf, as the standard library,
    pytest, the runtime or the probe's own text do: code under `roots` or `trusted`, or
    frozen, whose own names say `asked` (``sys._getframe(1)`` names ``_getframe``;
    ``unittest.mock`` names ``__code__`` in a ``getattr`` when it copies a signature). Not the
    code under test, nor library code calling a callable it was handed: ``sys._getframe`` as
    a dataclass field's default factory (called from generated ``<string>`` code), a mock's
    side effect, a ``logging.config`` factory. A frame-handing function (`givers`, `named`)
    stands for its caller, which must name it, or be ``inspect`` or ``traceback`` code that
    hands out no frame itself (`giver_files`)."""
    while frame is not None and (frame.f_code in givers
                                 or (frame.f_code.co_filename, frame.f_code.co_name) in named):
        asked = givers.get(frame.f_code, frame.f_code.co_name)  # as its caller names it
        frame = frame.f_back
        if frame is not None and frame.f_code.co_filename in giver_files \
                and frame.f_code not in givers:
            return True
    if frame is None:  # nothing asked on its own behalf (an atexit-called signal.signal)
        return False
    code = frame.f_code
    name = code.co_filename
    return name in runtime or ((name.startswith(roots) or name.startswith("<frozen")
                                or name in trusted)
                               and (asked in code.co_names or any(
                                   asked == c or (type(c) is tuple and asked in c)
                                   for c in code.co_consts)))


SIGNALS = "a signal handler (one is handed the interrupted frame, a way to the job's own objects)"


def seal_signals(trip: Any, own: Any) -> None:
    """From now on, installing a signal handler from code that does not ask on its own behalf
    (`own`: see `asked_by_its_own`) ends the job. A
    Python signal handler is handed the frame it interrupted, and no audit event says so: a
    handler the code raised at once walked from that frame to the reporter's result channel
    and sent passes for tests that never ran. The originals are held only as defaults, which
    the code cannot read unseen (`guard_code`)."""
    import _signal
    import signal

    def sealed(install: Any) -> Any:
        def install_handler(signalnum: Any, handler: Any, _install: Any = install,
                            _trip: Any = trip, _own: Any = own, _caller: Any = sys._getframe,
                            _module: str = signal.__file__) -> Any:
            frame = _caller(1)
            while frame is not None and frame.f_code.co_filename == _module:
                frame = frame.f_back  # signal.signal itself (a reloaded one too): its caller
            if not _own(frame, "signal"):
                _trip("collection or the run", SIGNALS)
            return _install(signalnum, handler)

        return install_handler

    signal.signal = sealed(signal.signal)
    _signal.signal = sealed(_signal.signal)
