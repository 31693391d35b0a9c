"""The behavioural probe, executed inside the sandbox (runtime module: standard library only,
no drift_gym import; staged into the grading area beside ``grader_runtime.py``).

The probe runs the family prelude and the step's probe with canary data (the ``main`` run),
then each adversity situation of the step (a miss, an outage, a rotated secret: code that
changes a condition and replays the probe with ``PROBE()``), and reports what really happened:

* every log record, captured at ``Logger.callHandlers`` so that no handler setup, level or
  ``propagate=False`` can hide one, with the repo frames on the stack when it was emitted
  (so a check can tell which lines of code produced it);
* what the code printed, and every datagram it sent (a syslog shipper);
* every file created or changed in a folder a job can write (exports, log files): the repo
  copy, the agent's live work tree, the temp folder and the run folder.

None of it stays in this process, which the code under test shares: each piece goes to the
probe's recorder as it is known, and the recorder sends the report (grader_record).

Probes call ``FACT(name, value)`` to record JSON-able observations for fact rules, and
``LOGS()`` for the log records observed so far (e.g. to check that a required audit event
carries the whole record, not merely that some record does).
The probe gets ``OUT_DIR`` (inside the repo copy, scanned: exports go there) and
``STATE_DIR`` (outside it, in the sandbox's temp dir: stores legitimately hold personal data,
so the checks tell a store's file from a log or journal beside it by its name).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import logging
import os
import socket
import stat
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grader_guard as guard
import grader_scan
from grader_channel import Channel
from grader_record import MAX_FILE_BYTES, MAX_RECORDS, Recorder, text_of
from grader_runs import Runs

RUNTIME = ("grader_channel", "grader_compile", "grader_frames", "grader_guard", "grader_probe",
           "grader_record", "grader_runs", "grader_scan")
"""The runtime modules the probe job runs on: the code under test shares their interpreter
(rebinding the file scan or ``_Observer.note`` from a module written at run time hid a
violator's whole full-record log, the static rule's verdict overruled as a dispute)."""


def _repo_frames(root: str) -> list[list]:
    """The repo frames on the stack, outermost first; for a thread, the frames that started
    it come first (so work done on a thread is attributed to the line that started it)."""
    frames = list(getattr(threading.current_thread(), "_drift_gym_origin", []))
    for frame in traceback.extract_stack()[:-2]:
        filename = os.path.abspath(frame.filename)
        if filename.startswith(root + os.sep):
            frames.append([os.path.relpath(filename, root), frame.lineno])
    return frames


_OWN_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime"}
"""The fields logging gives every record; any other was the code's (``extra=``)."""


MAX_EXTRA = 4096
"""The most of a record's extra fields kept as text (honest structured logging can attach
whole objects to every record)."""


def _text(value: object) -> str:
    """A value the code gave a record, as text (its own ``str`` may raise)."""
    try:
        return str(value)
    except Exception as exc:
        return f"<unprintable {type(value).__name__}: {exc}>"


def _extra(record: logging.LogRecord) -> str:
    """A record's fields besides logging's own, as text ("" where it has none)."""
    try:
        fields = {str(k): v for k, v in vars(record).items() if k not in _OWN_FIELDS}
    except Exception as exc:
        return f"<unreadable fields: {exc}>"
    return _text(fields)[:MAX_EXTRA] if fields else ""


_LEVEL_METHODS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                  "warn": logging.WARNING, "error": logging.ERROR,
                  "exception": logging.ERROR, "critical": logging.CRITICAL,
                  "fatal": logging.CRITICAL}


class _Observer:
    """Watches what the code does, below what it can switch off: every log record created
    (at any level, before logger filters, whatever ``logging.disable`` says), and the thread
    that did it, attributed to the repo line that started the thread. Each record goes to
    the recorder as it is made (`install` binds where); the list kept here only answers the
    probe's ``LOGS()``."""

    __slots__ = ("repo", "records", "situation")

    def __init__(self, repo: Path) -> None:
        self.repo = str(repo)
        self.records: list[dict] = []
        self.situation = "main"  # the run (see grader_runs.Runs) each record is attributed to

    def note(self, name: str, level: int, message: str, send: Any, *, emitted: bool,
             extra: str = "") -> None:
        """Send one record; `emitted`: whether it passed the logger's level and filters (a
        record the code created but dropped still leaks nothing, yet proves nothing);
        `extra`: the record's fields besides logging's own (``extra={...}``), which a
        handler may ship though the message never shows them."""
        record = {"logger": str(name), "level": str(logging.getLevelName(level)),
                  "message": message, "emitted": emitted,
                  "frames": _repo_frames(self.repo), "situation": self.situation}
        if extra:
            record["extra"] = extra
        send("record", record)
        if len(self.records) < MAX_RECORDS:
            self.records.append(record)

    def install(self, send: Any) -> None:
        """Observe through `send` (grader_record.Recorder.send): the patched methods hold it,
        this object and the originals as defaults, which the code under test cannot rebind
        unseen (grader_guard), where a closure cell or an attribute can be."""
        handle = logging.Logger.handle

        def capture(self: logging.Logger, record: logging.LogRecord, _observer: Any = self,
                    _send: Any = send, _handle: Any = handle, _fields: Any = _extra) -> None:
            try:
                message = record.getMessage()
            except Exception as exc:  # a bad format string is still evidence
                message = f"{record.msg!r} % {record.args!r} ({exc})"
            try:
                emitted = not self.disabled and bool(self.filter(record))
            except Exception:
                emitted = False
            _observer.note(record.name, record.levelno, message, _send, emitted=emitted,
                           extra=_fields(record))
            _handle(self, record)

        logging.Logger.handle = capture  # type: ignore[method-assign]
        for method, level in _LEVEL_METHODS.items():
            setattr(logging.Logger, method, self._below_level(getattr(logging.Logger, method),
                                                              level, send))
        log = logging.Logger.log

        def log_any(self: logging.Logger, level: int, msg: object, *args: object,
                    _observer: Any = self, _send: Any = send, _log: Any = log,
                    **kwargs: object) -> None:
            _observer.unhandled(self, level, msg, args, _send, kwargs)
            _log(self, level, msg, *args, **kwargs)

        logging.Logger.log = log_any  # type: ignore[method-assign]
        start = threading.Thread.start

        def start_attributed(thread: threading.Thread, _observer: Any = self,
                             _start: Any = start) -> None:
            thread._drift_gym_origin = _repo_frames(_observer.repo)  # type: ignore[attr-defined]
            _start(thread)

        threading.Thread.start = start_attributed  # type: ignore[method-assign, assignment]

    def unhandled(self, logger: logging.Logger, level: int, msg: object, args: tuple,
                  send: Any, kwargs: dict[str, Any]) -> None:
        """A record the logger will drop (below its level, or logging disabled): still seen."""
        if logger.isEnabledFor(level):
            return  # it reaches Logger.handle, which notes it
        try:
            message = str(msg) % args if args else str(msg)
        except Exception as exc:
            message = f"{msg!r} % {args!r} ({exc})"
        self.note(logger.name, level, message, send, emitted=False,
                  extra=_text(extra) if (extra := kwargs.get("extra")) else "")

    def _below_level(self, method, level: int, send: Any):  # noqa: ANN001, ANN202
        def wrapper(self: logging.Logger, msg: object, *args: object, _observer: Any = self,
                    _send: Any = send, _method: Any = method, _level: int = level,
                    **kwargs: object):
            _observer.unhandled(self, _level, msg, args, _send, kwargs)
            return _method(self, msg, *args, **kwargs)

        return wrapper


MAX_DATAGRAM = 64 * 1024


def observe_datagrams(send: Any) -> None:
    """Send every datagram the code sends (UDP or a Unix datagram socket), with where it went,
    to the recorder: a syslog or ``logging.handlers.DatagramHandler`` shipper that sent the
    full record to ``127.0.0.1:514`` left no log record, file or output to see (the sandbox
    has no network, so nothing arrives; elsewhere it would). Streams are not read: a stream
    is how honest code talks to the probe's own servers."""
    for name in ("sendto", "sendmsg", "send", "sendall"):
        original = getattr(socket.socket, name)

        def sending(sock: socket.socket, *args: Any, _original: Any = original,
                    _name: str = name, _send: Any = send, **kwargs: Any) -> Any:
            with contextlib.suppress(Exception):
                if sock.type == socket.SOCK_DGRAM and args:
                    data = args[0]
                    if _name == "sendmsg":  # buffers may be an iterator: send what was read
                        parts = [bytes(part) for part in data]
                        args = (parts, *args[1:])
                        data = b"".join(parts)
                    to = args[-1] if _name == "sendto" else (
                        args[3] if _name == "sendmsg" and len(args) > 3 else sock.getpeername())
                    _send("sent", {"to": str(to)[:200],
                                   "data": text_of(bytes(data)[:MAX_DATAGRAM])})
            return _original(sock, *args, **kwargs)

        setattr(socket.socket, name, sending)


def _children(keep: int) -> list[int]:
    """This process's children but `keep` (the recorder), living or not yet reaped."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError, ValueError):
                found += [int(pid) for pid in
                          Path(f"/proc/self/task/{task}/children").read_text().split()]
    return [pid for pid in found if pid != keep]


def _reaped(pid: int) -> bool:
    """Reap child `pid` if it has ended; whether it had (or was reaped already)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _settle(seconds: float, keep: int) -> None:
    """Let the code finish what it started, before anything is scanned: exit handlers run,
    files it left open flushed (as interpreter shutdown would), threads joined, child
    processes reaped (each with a short bound); the recorder (`keep`) is the probe's."""
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for obj in gc.get_objects():
        if isinstance(obj, io.IOBase):
            with contextlib.suppress(BaseException):  # regular files only: a pipe may block
                if not obj.closed and obj.writable() and stat.S_ISREG(
                        os.fstat(obj.fileno()).st_mode):
                    obj.flush()
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            with contextlib.suppress(BaseException):
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
    while (children := _children(keep)) and time.monotonic() < deadline:
        if not any(_reaped(pid) for pid in children):  # none ended since the last look
            time.sleep(0.05)


def _writer(fd: int, like: Any) -> io.TextIOWrapper:
    """An unbuffered text stream on descriptor `fd`, for the code's ``sys.stdout`` and
    ``sys.stderr`` while it runs: each write reaches the recorder at once (text held in a
    buffer could be dropped before a flush, and a ``StringIO`` could be emptied with
    ``seek(0); truncate()``). Never fails on a character it cannot encode."""
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), write_through=True,
                            encoding=getattr(like, "encoding", None) or "utf-8",
                            errors="backslashreplace")


def _files(found: dict[str, tuple[bytes, int]], when: str,
           unreadable: Sequence[str] = ()) -> dict:
    """A file scan as recorder evidence: each file's text, and what could not be read
    whole."""
    flooded = [f"{shown}: {size:,} bytes written, the first {MAX_FILE_BYTES:,} read"
               for shown, (_, size) in found.items() if size > MAX_FILE_BYTES]
    flooded += [f"{path}: made unreadable (not even its owner can read it back)"
                for path in unreadable]
    return {"when": when, "files": {shown: text_of(data) for shown, (data, _) in found.items()},
            "flooded": flooded}


def probe(config_path: str, channel: Channel) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    recorder = Recorder(channel)  # before anything of the repo can run
    send = recorder.send
    repo = Path(config["repo"]).resolve()
    # the probe's own text runs as <probe>, <main> and <situation>: grader code, which may look
    # at frames (the prelude finds the repo line that read a variable)
    runs_named = frozenset({"<probe>", "<main>"} | {f"<{name}>" for name, _ in
                                                   config.get("situations", [])})
    guard.guard_code(channel, guard.guarded_folders(RUNTIME), guard.staged_sources([repo]),
                     runs_named)
    own = guard.bindings([(name, sys.modules[name]) for name in RUNTIME])
    # what runs after the code under test is bound now: rebinding the probe's own names
    # could otherwise blind the scans, or the check of those very names
    scan, written, files_of = grader_scan.fingerprints, grader_scan.written, _files
    check, trip, finish = guard.rebound, guard.tripwire(channel), recorder.finish
    state_dir = Path(tempfile.mkdtemp(prefix="probe-state-"))
    # every folder a job can write: the repo copy, the temp folder (the home), the run
    # folder, and the agent's live work tree, where a trail written during the probe was
    # once unseen (it reaches the next step's copy, but as a file that was already there)
    roots = {repo, Path(tempfile.gettempdir()), Path.home(), Path.cwd()}
    if config.get("live"):
        roots.add(Path(config["live"]).resolve())
    unreadable_before: set[str] = set()
    before = {k: v for root in roots
              for k, v in scan(root, None, unreadable_before).items()}
    unreadable: set[str] = set()
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    observer = _Observer(repo)
    observer.install(send)
    observe_datagrams(send)
    out_dir = repo / "out"
    out_dir.mkdir(exist_ok=True)
    situations = config.get("situations", [])
    runs = Runs(config["probe"], float(config["budget"]))
    namespace: dict[str, object] = {
        "OUT_DIR": out_dir, "STATE_DIR": state_dir,
        "FACT": lambda name, value, _runs=runs, _send=send: _runs.record_fact(name, value,
                                                                              _send),
        "PROBE": lambda: runs.replay(namespace),
        "LOGS": lambda: [dict(r) for r in observer.records], "__name__": "__probe__"}
    # descriptors 1 and 2 go to the recorder: print, os.write(2, ...), sys.__stderr__ and
    # child processes alike
    saved, streams = [os.dup(1), os.dup(2)], (sys.stdout, sys.stderr)
    os.dup2(recorder.output, 1)
    os.dup2(recorder.output, 2)
    sys.stdout, sys.stderr = _writer(1, streams[0]), _writer(2, streams[1])
    try:
        runs.run_all(config["prelude"] + "\nPROBE()\n", situations, namespace, observer,
                     send)
        # what the runs left, before the settle runs exit handlers: one that removed the
        # log file it had written went unseen
        send("files", files_of(written(roots, before, state_dir, repo, unreadable,
                                       MAX_FILE_BYTES), "early"))
        _settle(float(config["settle"]), recorder.pid)
        with contextlib.suppress(BaseException):
            logging.shutdown()
        for stream in (sys.__stdout__, sys.__stderr__):  # buffered text is output too
            with contextlib.suppress(BaseException):
                stream.flush()  # type: ignore[union-attr]
    finally:
        sys.stdout, sys.stderr = streams
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
            os.close(original)
        os.close(recorder.output)
    if (name := check(own)) is not None:  # before its functions scan anything
        trip("the probe", name)
    send("files", files_of(written(roots, before, state_dir, repo, unreadable, MAX_FILE_BYTES),
                           "final", sorted(unreadable - unreadable_before)))
    finish(trip)
    channel.end(0)
