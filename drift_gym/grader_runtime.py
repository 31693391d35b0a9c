"""Grading jobs, executed *inside the sandbox*: the behavioural probe and the hidden tests.

Standalone on purpose (standard library and pytest only, no drift_gym import): it is copied
into the grading area and run with the sandbox's interpreter, ``python -I grader_runtime.py
probe CONFIG.json`` or ``python -I grader_runtime.py pytest PYTEST-ARGS...``.

**The result channel** (the code under test is an adversary, DESIGN.md section 4b). Before any
agent module is imported, the job takes a per-grading nonce out of its environment and
duplicates the real stdout; every result goes out on that descriptor as a ``@@DG@@<nonce>``
frame, and the job ends with ``os._exit`` right after its last frame, so no ``atexit`` hook,
thread or buffered writer of the agent's code can run after it. A ``start`` frame, written
before any agent code runs, tells the grader that its own side worked: a job that started and
did not finish died by the agent's code. The grader reads each frame once, rejects duplicates,
frames after the end, and frames with the wrong nonce, and cross-checks the hidden tests'
per-test frames against the summary, the exit status and the expected test ids.

**The probe** runs the family prelude and the step's probe with canary data (the ``main``
run), then each adversity situation of the step (a miss, an outage, a rotated secret: code that
changes a condition and replays the probe with ``PROBE()``), and reports what really happened:

* every log record, captured at ``Logger.callHandlers`` so that no handler setup, level or
  ``propagate=False`` can hide one, with the repo frames on the stack when it was emitted
  (so a check can tell which lines of code produced it);
* what the code printed;
* every file created or changed under the repo copy (exports, log files).

Probes call ``FACT(name, value)`` to record JSON-able observations for fact rules, and
``LOGS()`` for the log records observed so far (e.g. to check that a required audit event
carries the whole record, not merely that some record does).
The probe gets ``OUT_DIR`` (inside the repo copy, scanned: exports go there) and
``STATE_DIR`` (outside it, in the sandbox's temp dir, not scanned: stores legitimately hold
personal data).

**The hidden tests** run in-process through ``pytest.main`` with a plugin that sends one frame
per test phase as it is reported, and a summary with the exit status after the session.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import logging
import os
import resource
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

MAX_FILE_BYTES = 256 * 1024
MAX_RECORDS = 2000
FRAME = "@@DG@@"
# bound before any agent module is imported: code that monkeypatches json.dumps, os.write or
# os._exit cannot change what the channel sends or when the job ends
_DUMPS, _WRITE, _EXIT = json.dumps, os.write, os._exit
NONCE_FILE = ".grading-nonce"  # in the job's working folder, grading/run


class Channel:
    """The job's only trusted output: frames on a private duplicate of the real stdout.

    The nonce arrives in a file the job deletes before any agent code runs (not in argv or
    the environment, which other processes of the sandbox could read in /proc)."""

    def __init__(self) -> None:
        nonce_file = Path(NONCE_FILE)
        self._nonce = nonce_file.read_text(encoding="utf-8").strip()
        nonce_file.unlink()
        self._fd = os.dup(1)

    def send(self, kind: str, payload: object) -> None:
        data = _DUMPS({"kind": kind, "data": payload}, default=str)
        _WRITE(self._fd, f"\n{FRAME}{self._nonce} {data}\n".encode())

    def end(self, status: int) -> None:
        """The last frame, then leave at once: nothing of the agent's code runs after it.
        (The job's own output is flushed first, so that the transcript is complete.)"""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        self.send("end", {"status": status})
        _EXIT(status)


def _fingerprints(root: Path, skip: Path | None = None) -> dict[str, str]:
    result: dict[str, str] = {}
    if not root.is_dir():
        return result
    for path in root.rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                result[str(path)] = hashlib.sha1(path.read_bytes()).hexdigest()
    return result


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
        self.situation = "main"  # the run (see _Runs) each record is attributed to

    def note(self, name: str, level: int, message: str, *, emitted: bool) -> None:
        """Keep one record; `emitted`: whether it passed the logger's level and filters (a
        record the code created but dropped still leaks nothing, yet proves nothing)."""
        if len(self.records) < MAX_RECORDS:
            self.records.append({"logger": name, "level": logging.getLevelName(level),
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
            log(self, level, msg, *args, **kwargs)

        logging.Logger.log = log_any  # type: ignore[method-assign]
        start = threading.Thread.start

        def start_attributed(thread: threading.Thread) -> None:
            thread._drift_gym_origin = _repo_frames(observer.repo)  # type: ignore[attr-defined]
            start(thread)

        threading.Thread.start = start_attributed  # type: ignore[method-assign]

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


def _settle() -> None:
    """Let the code finish what it started, before anything is scanned: exit handlers run,
    threads joined, child processes reaped (each with a short bound)."""
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    deadline = time.monotonic() + 3
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
    state_dir = Path(tempfile.mkdtemp(prefix="probe-state-"))
    roots = {repo, Path(tempfile.gettempdir()), Path.home(), Path.cwd()}
    before = {k: v for root in roots for k, v in _fingerprints(root, state_dir).items()}
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    observer = _Observer(repo)
    observer.install()
    out_dir = repo / "out"
    out_dir.mkdir(exist_ok=True)
    runs = _Runs(config["probe"])
    namespace = {"OUT_DIR": out_dir, "STATE_DIR": state_dir, "FACT": runs.record_fact,
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
            error = runs.run("main", config["prelude"] + "\nPROBE()\n", namespace, observer)
            if error is None:  # situations build on the prelude's objects
                for name, code in config.get("situations", []):
                    runs.run(name, code, namespace, observer)
            _settle()
            with contextlib.suppress(BaseException):
                logging.shutdown()
            for stream in (sys.__stdout__, sys.__stderr__):  # buffered text is output too
                with contextlib.suppress(BaseException):
                    stream.flush()
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
        raw.seek(0)
        descriptors = raw.read()[-MAX_FILE_BYTES:].decode("utf-8", errors="replace")
    files = {}
    for path, digest in {k: v for root in roots
                         for k, v in _fingerprints(root, state_dir).items()}.items():
        if before.get(path) != digest:
            data = Path(path).read_bytes()[:MAX_FILE_BYTES]
            shown = os.path.relpath(path, repo) if path.startswith(str(repo) + os.sep) \
                else path
            files[shown] = data.decode("utf-8", errors="replace")
    result = {
        "error": error,
        "logs": observer.records,
        "stdout": (printed.getvalue() + descriptors)[-2 * MAX_FILE_BYTES:],
        "files": files,
        "facts": runs.facts["main"],
        "situations": {name: {"error": runs.errors[name], "facts": runs.facts[name]}
                       for name in runs.errors if name != "main"},
    }
    channel.send("probe", result)
    channel.end(0)


class _Runs:
    """The probe's runs: ``main`` (prelude and probe, the happy path), then each adversity
    situation, which changes a condition and replays the probe with ``PROBE()``. Each run
    keeps its own facts and error; the environment variables and working folder a situation
    changes are put back before the next, so situations do not leak into each other."""

    def __init__(self, probe_code: str) -> None:
        self.code = compile(probe_code, "<probe>", "exec")
        self.current = "main"
        self.facts: dict[str, dict[str, object]] = {}
        self.errors: dict[str, str | None] = {}

    def record_fact(self, name: str, value: object) -> None:
        self.facts[self.current][name] = json.loads(_DUMPS(value, default=str))

    def replay(self, namespace: dict) -> None:
        exec(self.code, namespace)

    def run(self, name: str, code: str, namespace: dict, observer: _Observer) -> str | None:
        self.current = observer.situation = name
        self.facts[name] = {}
        environ, cwd = dict(os.environ), os.getcwd()
        error = None
        try:
            exec(compile(code, f"<{name}>", "exec"), namespace)
        except BaseException:  # SystemExit included: the probe must report, not vanish
            error = traceback.format_exc(limit=8)
        with contextlib.suppress(BaseException):
            os.environ.clear()
            os.environ.update(environ)
            os.chdir(cwd)
        self.errors[name] = error
        return error


class _Reporter:
    """A pytest plugin object: one frame per test phase, one per collection error."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 (pytest's TestReport)
        self.channel.send("test", {"nodeid": report.nodeid, "when": report.when,
                                   "outcome": report.outcome})

    def pytest_collectreport(self, report) -> None:  # noqa: ANN001 (pytest's CollectReport)
        if report.failed:
            self.channel.send("collect_error", {"nodeid": report.nodeid})


def run_pytest(args: list[str], channel: Channel) -> None:
    import pytest

    status = pytest.main(args, plugins=[_Reporter(channel)])
    channel.end(int(status))


def main(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        serve()
        return
    channel = Channel()
    channel.send("start", {"mode": argv[0]})
    if argv[0] == "probe":
        probe(argv[1], channel)
    run_pytest(argv[1:], channel)


# -- the warm grader ---------------------------------------------------------------------
# Modules every job needs and no repo can change: imported once by the server, inherited by
# each forked job. The repo under test is never imported here.
WARM_MODULES = ("pytest", "_pytest.python", "_pytest.runner", "_pytest.fixtures",
                "_pytest.junitxml", "_pytest.monkeypatch", "_pytest.tmpdir", "_pytest.capture",
                "_pytest.logging", "_pytest.skipping", "_pytest.assertion.rewrite", "ast",
                "base64", "csv", "dataclasses", "datetime", "decimal", "enum", "functools",
                "hmac", "http.client", "http.server", "ipaddress", "itertools", "operator",
                "random", "re", "secrets", "socket", "ssl", "statistics", "string", "typing",
                "urllib.parse", "urllib.request", "uuid", "xml.etree.ElementTree", "zlib")


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _harden_server() -> None:
    """Deny ptrace and /proc/PID/mem on the server to its own jobs (same uid:
    PR_SET_DUMPABLE 0), and adopt every orphan a job leaves (PR_SET_CHILD_SUBREAPER), so
    that a daemonised leftover is still the server's child and is killed after the job."""
    _prctl(4, 0)
    _prctl(36, 1)


def _children() -> list[int]:
    mine = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if stat.rsplit(")", 1)[1].split()[1] == mine:
                    found.append(int(entry))
    return found


def _reap_children() -> None:
    """SIGKILL and reap every child of the server (a job's leftovers, adopted as orphans)."""
    for _ in range(20):
        children = _children()
        if not children:
            return
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        time.sleep(0.005)


def _run_forked(job: dict) -> dict:
    """One job in a fresh fork: its own session, output to the job's file, killed with its
    whole tree at its deadline; every process it left is killed after it."""
    pid = os.fork()
    if pid == 0:  # the job
        try:
            os.setsid()
            out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.closerange(3, 65536)  # the server's pipes to the host are not the job's
            os.chdir(job["cwd"])
            limit = int(job["timeout"]) + 5
            resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))
            sys.argv = ["grader_runtime.py", *job["argv"]]
            main(job["argv"])
        except BaseException:
            traceback.print_exc()
        os._exit(70)
    deadline = time.monotonic() + float(job["timeout"])
    status, timed_out = None, False
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
            break
        if time.monotonic() > deadline:
            timed_out = True
            with contextlib.suppress(OSError):
                os.killpg(pid, 9)
            status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            break
        time.sleep(0.002)
    _reap_children()
    exit_code = 128 - status if status < 0 else status
    return {"id": job["id"], "exit_code": 124 if timed_out else exit_code,
            "timed_out": timed_out}


def _rehearse() -> None:
    """One pytest session over an empty folder, output discarded: pytest imports much of
    itself lazily, on the first session; afterwards every fork starts with it loaded."""
    import pytest

    with tempfile.TemporaryDirectory() as empty, contextlib.suppress(BaseException), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", empty, empty])


def serve() -> None:
    """The warm grader: import what jobs share once, then read one JSON job per line on
    stdin ({id, argv, cwd, timeout, out}) and answer one JSON line per job on stdout."""
    import importlib

    for name in WARM_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    _rehearse()
    _harden_server()
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    print(json.dumps({"ready": os.getpid()}), file=reply)
    for line in sys.stdin:
        try:
            job = json.loads(line)
            answer = _run_forked(job)
        except Exception as exc:  # a bad request is the host's bug: say so, keep serving
            answer = {"id": None, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), file=reply)


if __name__ == "__main__":
    main(sys.argv[1:])
