"""The behavioural probe, executed inside the sandbox (runtime module: standard library only,
no drift_gym import; staged into the grading area beside ``grader_runtime.py``).

The probe runs the family prelude and the step's probe with canary data (the ``main`` run),
then each adversity situation of the step (a miss, an outage, a rotated secret: code that
changes a condition and replays the probe with ``PROBE()``), and reports what really happened:

* every log record, captured at ``Logger.callHandlers`` so that no handler setup, level or
  ``propagate=False`` can hide one, with the repo frames on the stack when it was emitted
  (so a check can tell which lines of code produced it);
* what the code printed;
* every file created or changed in a folder a job can write (exports, log files): the repo
  copy, the agent's live work tree, the temp folder and the run folder.

Probes call ``FACT(name, value)`` to record JSON-able observations for fact rules, and
``LOGS()`` for the log records observed so far (e.g. to check that a required audit event
carries the whole record, not merely that some record does).
The probe gets ``OUT_DIR`` (inside the repo copy, scanned: exports go there) and
``STATE_DIR`` (outside it, in the sandbox's temp dir, not scanned: stores legitimately hold
personal data).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import gc
import io
import json
import logging
import os
import stat
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import grader_guard as guard
import grader_scan
from grader_channel import Channel, dumps
from grader_runs import Runs

RUNTIME = ("grader_channel", "grader_guard", "grader_probe", "grader_runs", "grader_scan")
"""The runtime modules the probe job runs on: the code under test shares their interpreter
(rebinding the file scan or ``_Observer.note`` from a module written at run time hid a
violator's whole full-record log, the static rule's verdict overruled as a dispute)."""
MAX_FILE_BYTES = 256 * 1024
MAX_RECORDS = 2000
REPORT_BUDGET = 448 * 1024
"""The most the probe report may take as a frame. A job's output is read with a cap that
keeps its head and tail (half of ``OUTPUT_CAP`` each), so a bigger frame is cut in the middle
and reads as forged. Whatever the report cannot hold -- a file past `MAX_FILE_BYTES`, records
past `MAX_RECORDS`, printed output past twice that, anything trimmed to fit the budget -- is
named in the report's ``flooded`` list: a canary behind 300 KB of padding, or after 2,000
junk records, would otherwise go unseen, so the grader scores flooding as tampering."""


def _text(data: bytes) -> str:
    """Bytes the code wrote, as report text: UTF-8 as it is; anything else (a gzip audit
    trail, a pickle, a raw blob on descriptor 1) as base64 after a marker line, which the
    grader decodes and inflates (checks/canary.py). Decoding it with replacement characters
    destroyed every compressed record unseen."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.reason == "unexpected end of data":  # a head cut inside a character
            with contextlib.suppress(UnicodeDecodeError):
                return data[:error.start].decode("utf-8")
        return f"<{len(data):,} bytes, not UTF-8: base64>\n" + base64.b64encode(data).decode()


def _repo_frames(root: str) -> list[list]:
    """The repo frames on the stack, outermost first; for a thread, the frames that started
    it come first (so work done on a thread is attributed to the line that started it)."""
    frames = list(getattr(threading.current_thread(), "_drift_gym_origin", []))
    for frame in traceback.extract_stack()[:-2]:
        filename = os.path.abspath(frame.filename)
        if filename.startswith(root + os.sep):
            frames.append([os.path.relpath(filename, root), frame.lineno])
    return frames


_LEVEL_METHODS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                  "warn": logging.WARNING, "error": logging.ERROR,
                  "exception": logging.ERROR, "critical": logging.CRITICAL,
                  "fatal": logging.CRITICAL}


class _Observer:
    """Watches what the code does, below what it can switch off: every log record created
    (at any level, before logger filters, whatever ``logging.disable`` says), and the thread
    that did it, attributed to the repo line that started the thread."""

    def __init__(self, repo: Path) -> None:
        self.repo = str(repo)
        self.records: list[dict] = []
        self.dropped = 0  # records past MAX_RECORDS
        self.situation = "main"  # the run (see grader_runs.Runs) each record is attributed to

    def note(self, name: str, level: int, message: str, *, emitted: bool) -> None:
        """Keep one record; `emitted`: whether it passed the logger's level and filters (a
        record the code created but dropped still leaks nothing, yet proves nothing)."""
        if len(self.records) >= MAX_RECORDS:
            self.dropped += 1
        else:
            level_name = str(logging.getLevelName(level))
            self.records.append({"logger": str(name), "level": level_name,
                                 "message": message, "emitted": emitted,
                                 "frames": _repo_frames(self.repo),
                                 "situation": self.situation})

    def install(self) -> None:
        observer = self
        handle = logging.Logger.handle

        def capture(self: logging.Logger, record: logging.LogRecord) -> None:
            try:
                message = record.getMessage()
            except Exception as exc:  # a bad format string is still evidence
                message = f"{record.msg!r} % {record.args!r} ({exc})"
            try:
                emitted = not self.disabled and bool(self.filter(record))
            except Exception:
                emitted = False
            observer.note(record.name, record.levelno, message, emitted=emitted)
            handle(self, record)

        logging.Logger.handle = capture  # type: ignore[method-assign]
        for method, level in _LEVEL_METHODS.items():
            setattr(logging.Logger, method, self._below_level(getattr(logging.Logger, method),
                                                              level))
        log = logging.Logger.log

        def log_any(self: logging.Logger, level: int, msg: object, *args: object,
                    **kwargs: object) -> None:
            observer.unhandled(self, level, msg, args)
            log(self, level, msg, *args, **kwargs)  # type: ignore[arg-type]

        logging.Logger.log = log_any  # type: ignore[method-assign]
        start = threading.Thread.start

        def start_attributed(thread: threading.Thread) -> None:
            thread._drift_gym_origin = _repo_frames(observer.repo)  # type: ignore[attr-defined]
            start(thread)

        threading.Thread.start = start_attributed  # type: ignore[method-assign, assignment]

    def unhandled(self, logger: logging.Logger, level: int, msg: object,
                  args: tuple) -> None:
        """A record the logger will drop (below its level, or logging disabled): still seen."""
        if logger.isEnabledFor(level):
            return  # it reaches Logger.handle, which notes it
        try:
            message = str(msg) % args if args else str(msg)
        except Exception as exc:
            message = f"{msg!r} % {args!r} ({exc})"
        self.note(logger.name, level, message, emitted=False)

    def _below_level(self, method, level: int):  # noqa: ANN001, ANN202 (a Logger method)
        observer = self

        def wrapper(self: logging.Logger, msg: object, *args: object, **kwargs: object):
            observer.unhandled(self, level, msg, args)
            return method(self, msg, *args, **kwargs)

        return wrapper


def _settle(seconds: float) -> None:
    """Let the code finish what it started, before anything is scanned: exit handlers run,
    files it left open flushed (as interpreter shutdown would), threads joined, child
    processes reaped (each with a short bound)."""
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
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)


def probe(config_path: str, channel: Channel) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    repo = Path(config["repo"]).resolve()
    guard.guard_code(channel, guard.guarded_folders(RUNTIME), guard.staged_sources([repo]))
    own = guard.bindings([(name, sys.modules[name]) for name in RUNTIME])
    # what runs after the code under test is bound now: rebinding the probe's own names
    # could otherwise blind the scans, or the check of those very names
    scan, written, as_text, fit = grader_scan.fingerprints, grader_scan.written, _text, _fitted
    check, trip = guard.rebound, guard.tripwire(channel)
    state_dir = Path(tempfile.mkdtemp(prefix="probe-state-"))
    # every folder a job can write: the repo copy, the temp folder (the home), the run
    # folder, and the agent's live work tree, where a trail written during the probe was
    # once unseen (it reaches the next step's copy, but as a file that was already there)
    roots = {repo, Path(tempfile.gettempdir()), Path.home(), Path.cwd()}
    if config.get("live"):
        roots.add(Path(config["live"]).resolve())
    unreadable_before: set[str] = set()
    before = {k: v for root in roots
              for k, v in scan(root, state_dir, unreadable_before).items()}
    unreadable: set[str] = set()
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    observer = _Observer(repo)
    observer.install()
    out_dir = repo / "out"
    out_dir.mkdir(exist_ok=True)
    situations = config.get("situations", [])
    runs = Runs(config["probe"], float(config["budget"]))
    namespace: dict[str, object] = {
        "OUT_DIR": out_dir, "STATE_DIR": state_dir, "FACT": runs.record_fact,
        "PROBE": lambda: runs.replay(namespace),
        "LOGS": lambda: [dict(r) for r in observer.records], "__name__": "__probe__"}
    printed = io.StringIO()
    # descriptors 1 and 2 go to a file too: os.write(2, ...), sys.__stderr__ and child
    # processes bypass the Python-level redirect
    with tempfile.TemporaryFile(dir=state_dir) as raw:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(raw.fileno(), 1)
        os.dup2(raw.fileno(), 2)
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            error = runs.run_all(config["prelude"] + "\nPROBE()\n", situations, namespace,
                                 observer)
            # what the runs left, before the settle runs exit handlers: one that cleared the
            # observer's records and removed the log file it had written went unseen
            kept = list(observer.records)
            early = written(roots, before, state_dir, repo, unreadable, MAX_FILE_BYTES)
            _settle(float(config["settle"]))
            with contextlib.suppress(BaseException):
                logging.shutdown()
            for stream in (sys.__stdout__, sys.__stderr__):  # buffered text is output too
                with contextlib.suppress(BaseException):
                    stream.flush()  # type: ignore[union-attr]
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
        raw.seek(0)
        output = raw.read()
    if (name := check(own)) is not None:  # before its functions scan anything
        trip("the probe", name)
    flooded = [f"{observer.dropped} log records past the first {MAX_RECORDS}"] \
        if observer.dropped else []
    files = {}
    for shown, (data, size) in {**early, **written(roots, before, state_dir, repo, unreadable,
                                                   MAX_FILE_BYTES)}.items():
        if size > MAX_FILE_BYTES:
            flooded.append(f"{shown}: {size:,} bytes written, the first {MAX_FILE_BYTES:,} read")
        files[shown] = as_text(data)
    flooded += [f"{path}: made unreadable (not even its owner can read it back)"
                for path in sorted(unreadable - unreadable_before)]
    now = observer.records  # an exit handler may have cleared them: keep what the runs left
    logs = kept + (now[len(kept):] if now[:len(kept)] == kept else list(now))
    stdout = printed.getvalue() + as_text(output)
    if len(stdout) > 2 * MAX_FILE_BYTES:
        flooded.append(f"{len(stdout):,} characters printed, the last {2 * MAX_FILE_BYTES:,} "
                       "read")
    result = {
        "error": error,
        "logs": logs,
        "stdout": stdout[-2 * MAX_FILE_BYTES:],
        "files": files,
        "facts": runs.facts["main"],
        "situations": {name: {"error": runs.errors[name], "facts": runs.facts[name]}
                       for name in runs.errors if name != "main"},
        "flooded": flooded,
    }
    channel.send("probe", fit(result))
    channel.end(0)


def _fitted(result: dict) -> dict:
    """`result` within `REPORT_BUDGET` as a frame: file contents, printed output and log
    messages cut to ever smaller lengths (then records and files dropped) until it fits, and
    as a last resort the error texts cut and the facts dropped (both carry the agent's own
    text: an exception message, a value's ``str``), each cut named in ``flooded``."""
    limit = MAX_FILE_BYTES
    while len(dumps(result)) > REPORT_BUDGET and limit >= 64:
        limit //= 4
        result["files"] = {p: t[:limit] for p, t in result["files"].items()}
        result["stdout"] = result["stdout"][-limit:]
        result["logs"] = [{**r, "message": r["message"][:limit]} for r in result["logs"]]
        result["flooded"].append(f"the report cut files, output and log messages to {limit:,} "
                                 f"characters each to fit {REPORT_BUDGET:,} bytes")
    if len(dumps(result)) > REPORT_BUDGET:
        result["flooded"].append(f"{len(result['logs'])} log records and "
                                 f"{len(result['files'])} files dropped to fit the report")
        result["logs"], result["files"] = [], {}
    if len(dumps(result)) > REPORT_BUDGET:
        result["flooded"].append("error texts cut and facts dropped to fit the report")
        result["error"] = result["error"] and result["error"][-4096:]
        result["facts"] = {}
        result["situations"] = {name: {"error": run["error"] and run["error"][-4096:],
                                       "facts": {}}
                                for name, run in result["situations"].items()}
    return result
