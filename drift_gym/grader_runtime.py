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

**The probe** runs the family prelude and the step's probe with canary data and reports what
really happened:

* every log record, captured at ``Logger.callHandlers`` so that no handler setup, level or
  ``propagate=False`` can hide one, with the repo frames on the stack when it was emitted
  (so a check can tell which lines of code produced it);
* what the code printed;
* every file created or changed under the repo copy (exports, log files).

Probes call ``FACT(name, value)`` to record JSON-able observations for fact rules.
The probe gets ``OUT_DIR`` (inside the repo copy, scanned: exports go there) and
``STATE_DIR`` (outside it, in the sandbox's temp dir, not scanned: stores legitimately hold
personal data).

**The hidden tests** run in-process through ``pytest.main`` with a plugin that sends one frame
per test phase as it is reported, and a summary with the exit status after the session.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import traceback
from pathlib import Path

MAX_FILE_BYTES = 256 * 1024
MAX_RECORDS = 2000
FRAME = "@@DG@@"
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
        data = json.dumps({"kind": kind, "data": payload}, default=str)
        os.write(self._fd, f"\n{FRAME}{self._nonce} {data}\n".encode())

    def end(self, status: int) -> None:
        """The last frame, then leave at once: nothing of the agent's code runs after it.
        (The job's own output is flushed first, so that the transcript is complete.)"""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        self.send("end", {"status": status})
        os._exit(status)


def _fingerprints(root: Path) -> dict[str, str]:
    result = {}
    for path in root.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            result[path.relative_to(root).as_posix()] = hashlib.sha1(path.read_bytes()).hexdigest()
    return result


def _repo_frames(root: str) -> list[list]:
    frames = []
    for frame in traceback.extract_stack()[:-2]:
        filename = os.path.abspath(frame.filename)
        if filename.startswith(root + os.sep):
            frames.append([os.path.relpath(filename, root), frame.lineno])
    return frames


def probe(config_path: str, channel: Channel) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    repo = Path(config["repo"]).resolve()
    os.chdir(repo)
    sys.path.insert(0, str(repo))
    records: list[dict] = []
    original = logging.Logger.callHandlers

    def capture(self: logging.Logger, record: logging.LogRecord) -> None:
        if len(records) < MAX_RECORDS:
            try:
                message = record.getMessage()
            except Exception as exc:  # a bad format string is still evidence
                message = f"{record.msg!r} % {record.args!r} ({exc})"
            records.append(
                {"logger": record.name, "message": message, "frames": _repo_frames(str(repo))}
            )
        original(self, record)

    logging.Logger.callHandlers = capture  # type: ignore[method-assign]
    before = _fingerprints(repo)
    out_dir = repo / "out"
    out_dir.mkdir(exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="probe-state-"))
    facts: dict[str, object] = {}

    def record_fact(name: str, value: object) -> None:
        facts[name] = json.loads(json.dumps(value, default=str))

    namespace = {"OUT_DIR": out_dir, "STATE_DIR": state_dir, "FACT": record_fact,
                 "__name__": "__probe__"}
    printed = io.StringIO()
    error = None
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            exec(compile(config["prelude"], "<prelude>", "exec"), namespace)
            exec(compile(config["probe"], "<probe>", "exec"), namespace)
        except BaseException:  # SystemExit included: the probe must report, not vanish
            error = traceback.format_exc(limit=8)
    logging.shutdown()
    files = {}
    for rel, digest in _fingerprints(repo).items():
        if before.get(rel) != digest:
            data = (repo / rel).read_bytes()[:MAX_FILE_BYTES]
            files[rel] = data.decode("utf-8", errors="replace")
    result = {
        "error": error,
        "logs": records,
        "stdout": printed.getvalue()[-MAX_FILE_BYTES:],
        "files": files,
        "facts": facts,
    }
    channel.send("probe", result)
    channel.end(0)


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
    channel = Channel()
    channel.send("start", {"mode": argv[0]})
    if argv[0] == "probe":
        probe(argv[1], channel)
    run_pytest(argv[1:], channel)


if __name__ == "__main__":
    main(sys.argv[1:])
