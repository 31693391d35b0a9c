"""The probe's recorder (runtime module: standard library only, no drift_gym import; staged
into the grading area beside ``grader_runtime.py``): a process of its own that keeps the
probe's evidence out of reach of the code under test.

The probe runs the code under test in its own interpreter, so whatever the probe job keeps in
memory the code can reach and change. A step that walked the stack with
``traceback.walk_stack`` and read ``f_locals`` by a computed name emptied the log records the
probe had observed, and one line (``sys.stdout.seek(0); sys.stdout.truncate()``) erased a
printed record from the buffer the probe read its output from: both got a clean pass with a
full-record leak. So every piece of evidence leaves the job's process the moment it is known:
the probe forks this recorder before any code of the repo is imported, writes each log record,
fact, run outcome and file-scan result to it as one line on a pipe only the recorder reads,
and points the code's descriptors 1 and 2 at a second such pipe. The recorder assembles the
report and sends it on the channel; nothing sent can be taken back, and the recorder's memory
is not the code's (its own process, not dumpable, so not ptrace-able by the code either).

What the code can do to the pipes is visible: every line the probe writes is signed with a
key made before the fork, so a line the code wrote (a forged fact, a forged ``done``, a
stray byte that spoils the next line) reads as forged, as do a second outcome for a run, a
fact filed under another run than the one in progress, a second scan, and a recorder that
ended before the probe asked (a kill). Open: code that read the key out of the probe's own
objects (the defaults of the function that sends) could still sign a line of its own.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import os
import select
import signal
import threading
import time
from typing import Any

from grader_channel import Channel, dumps

MAX_FILE_BYTES = 256 * 1024
MAX_RECORDS = 2000
MAX_PRINTED = 2 * MAX_FILE_BYTES
REPORT_BUDGET = 448 * 1024
"""The most the probe report may take as a frame. A job's output is read with a cap that
keeps its head and tail (half of ``OUTPUT_CAP`` each), so a bigger frame is cut in the middle
and reads as forged. Whatever the report cannot hold -- a file past `MAX_FILE_BYTES`, records
past `MAX_RECORDS`, printed output past `MAX_PRINTED`, anything trimmed to fit the budget -- is
named in the report's ``flooded`` list: a canary behind 300 KB of padding, or after 2,000
junk records, would otherwise go unseen, so the grader scores flooding as tampering."""
WAIT_SECONDS = 10.0
"""How long the probe waits for the recorder's report once it has asked for it."""
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def text_of(data: bytes) -> str:
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


def _tail_text(data: bytes) -> str:
    """`text_of` a tail that may start inside a character (continuation bytes dropped)."""
    start = 0
    while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
        start += 1
    return text_of(data[start:])


class Recorder:
    """The probe's end of the recorder: `send` a piece of evidence, `finish` for the report.
    Bound to the pipes when made, before any code of the repo runs; `send` is a function
    (not a method reading this object's state), so the callers bind it as a default."""

    __slots__ = ("pid", "output", "send")

    def __init__(self, channel: Channel) -> None:
        key = os.urandom(16)  # signs the probe's lines (see `_sender`)
        evidence_r, evidence_w = os.pipe()
        output_r, output_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                os.close(evidence_w)
                os.close(output_w)
                _record(channel, evidence_r, output_r, key)
            except BaseException:
                status = 1
            os._exit(status)
        os.close(evidence_r)
        os.close(output_r)
        self.pid = pid
        self.output = output_w
        """The descriptor the code's 1 and 2 point to while it runs."""
        self.send = _sender(evidence_w, key)

    def finish(self, trip: Any) -> None:
        """Ask for the report and wait until the recorder has sent it; `trip` (see
        grader_guard.tripwire) where the recorder had already ended (the code killed it) or
        does not end well in time."""
        if self._ended() is not None:
            trip("the probe", "its recorder ended before the probe asked for the report")
        exited = pidfd(self.pid)  # readable once the recorder has exited
        self.send("done", {})
        deadline = time.monotonic() + WAIT_SECONDS
        try:
            while time.monotonic() < deadline:
                status = self._ended()
                if status is not None:
                    if status != 0:
                        trip("the probe", "its recorder failed")
                    return
                select.select([exited] if exited is not None else [], [], [],
                              max(0.0, min(0.05 if exited is not None else 0.002,
                                           deadline - time.monotonic())))
        finally:
            if exited is not None:
                os.close(exited)
        trip("the probe", "its recorder did not answer in time")

    def _ended(self) -> int | None:
        """The recorder's exit status once it has ended (-1: reaped by someone else)."""
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return -1
        return os.waitstatus_to_exitcode(status) if done else None


def pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when `pid` exits (None where the kernel has none:
    the caller then polls). The probe waits on its recorder with it, the warm server on
    each job."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def prctl(option: int, value: int) -> None:
    """``prctl(2)`` through libc, best effort: the recorder and the warm server each make
    themselves not dumpable (no ptrace, no ``/proc/PID/mem``, for processes of the same uid
    such as the code under test)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _sign(key: bytes, payload: bytes, _digest: Any = hmac.digest) -> bytes:
    """The signature an evidence line starts with (HMAC-SHA256, 128 bits, in hex)."""
    return _digest(key, payload, "sha256")[:16].hex().encode()


def _sender(fd: int, key: bytes) -> Any:
    """A function that writes one evidence line to `fd` whole: under a lock (threads of the
    code log too, and a line past the pipe's atomic size could interleave), with the probe's
    own time-limit signal held off (a run's time limit raised between two parts of a line
    would leave a partial line, which reads as forged). A process the code forked sends
    nothing: its lines could interleave with the probe's, which no lock of this process
    orders (a fork's log records were never the probe's to see). Each line is signed with
    `key`, which only the recorder and this function's defaults hold: a line the code wrote
    to the pipe it found among its descriptors reads as forged, unless it read the key out of
    the probe's own objects first."""
    lock = threading.Lock()

    def send(kind: str, data: object, _fd: int = fd, _lock: Any = lock,
             _write: Any = os.write, _dumps: Any = dumps, _mask: Any = signal.pthread_sigmask,
             _held: frozenset = frozenset({signal.SIGALRM}), _pid: int = os.getpid(),
             _getpid: Any = os.getpid, _key: bytes = key, _sign: Any = _sign) -> None:
        if _getpid() != _pid:
            return
        payload = _dumps({"kind": kind, "data": data}).encode()
        line = memoryview(_sign(_key, payload) + b" " + payload + b"\n")
        with _lock:
            previous = _mask(signal.SIG_BLOCK, _held)
            try:
                while line:
                    line = line[_write(_fd, line):]
            finally:
                _mask(signal.SIG_SETMASK, previous)

    return send


class _Evidence:
    """What the recorder has been told, and what in it was not the probe's."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.logs: list[dict] = []
        self.dropped = 0
        self.dropped_sent = 0
        self.facts: dict[str, dict[str, Any]] = {}
        self.pending: list[tuple[str, str, Any]] = []
        """(run named, fact, value) of the facts of the run in progress."""
        self.errors: dict[str, str | None] = {}
        self.files: dict[str, dict[str, str]] = {}
        self.sent: list[dict[str, str]] = []
        self.flooded: list[str] = []
        self.forged: list[str] = []
        self.printed = bytearray()
        self.printed_total = 0

    def take(self, line: bytes) -> bool:
        """Take one line; whether it was the probe's ``done``."""
        mac, _, payload = line.partition(b" ")
        if hmac.compare_digest(mac, _sign(self.key, payload)):
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError,
                                     RecursionError):
                item = json.loads(payload)
                return self._take(item["kind"], item["data"])
        self.forged.append(f"a line the probe did not write: {line[:80]!r}")
        return False

    def _take(self, kind: str, data: Any) -> bool:
        if kind == "record":
            if len(self.logs) >= MAX_RECORDS:
                self.dropped += 1
            else:
                self.logs.append(data)
        elif kind == "sent":
            if len(self.sent) >= MAX_RECORDS:
                self.dropped_sent += 1
            else:
                self.sent.append({"to": str(data["to"]), "data": str(data["data"])})
        elif kind == "fact":
            self.pending.append((str(data["run"]), str(data["name"]), data["value"]))
        elif kind == "run":
            self._ended(str(data["run"]), data["error"])
        elif kind == "files":
            when = str(data["when"])
            if when in self.files:
                self.forged.append(f"a second {when} file scan")
            else:
                self.files[when] = {str(k): str(v) for k, v in data["files"].items()}
                self.flooded += [str(note) for note in data["flooded"]]
        elif kind == "done":
            if self.pending:
                self.forged.append(f"{len(self.pending)} facts recorded outside any run")
            return True
        else:
            self.forged.append(f"a line of an unknown kind {str(kind)[:40]!r}")
        return False

    def _ended(self, run: str, error: Any) -> None:
        """Run `run` ended: the facts since the last run ended are its own, whatever run the
        probe's lines name (the code under test could rename the run in progress, and a
        fact filed under another run leaves the rule that judges it without a value, which
        is unscored), and a name that differs is forged. The last value of a fact wins, as
        a probe that replays ``PROBE()`` records a fact again."""
        if run in self.errors:
            self.forged.append(f"a second outcome of run {run!r}")
            return
        self.errors[run] = error
        facts = self.facts.setdefault(run, {})
        for named, name, value in self.pending:
            if named != run:
                self.forged.append(f"fact {name!r} of run {run!r} filed under run {named!r}")
            facts[name] = value
        self.pending.clear()

    def add_printed(self, chunk: bytes) -> None:
        self.printed_total += len(chunk)
        self.printed += chunk
        del self.printed[:max(0, len(self.printed) - MAX_PRINTED)]

    def report(self) -> dict:
        """The probe report, as the grader reads it (checks/verdict.ProbeResult)."""
        flooded = list(self.flooded)
        if self.dropped:
            flooded.insert(0, f"{self.dropped} log records past the first {MAX_RECORDS}")
        if self.dropped_sent:
            flooded.append(f"{self.dropped_sent} datagrams past the first {MAX_RECORDS}")
        if self.printed_total > MAX_PRINTED:
            flooded.append(f"{self.printed_total:,} bytes printed, the last {MAX_PRINTED:,} "
                           "read")
        early, final = self.files.get("early", {}), self.files.get("final", {})
        return fitted({
            "error": self.errors.get("main"),
            "logs": self.logs,
            "stdout": _tail_text(bytes(self.printed)),
            "files": {**early, **final},
            "sent": self.sent,
            # what the runs left in a file that the exit handlers then rewrote: a trail
            # emptied by a handler's close() at logging.shutdown went unseen (checked for
            # leaks only; an export is judged as it ends)
            "erased": {path: text for path, text in early.items()
                       if path in final and final[path] != text},
            "facts": self.facts.get("main", {}),
            "situations": {name: {"error": error, "facts": self.facts.get(name, {})}
                           for name, error in self.errors.items() if name != "main"},
            "flooded": flooded,
        })


def _record(channel: Channel, evidence: int, output: int, key: bytes) -> None:
    """The recorder: read both pipes until the probe's ``done``, then send the report (and
    a ``forged`` frame naming what on the pipes was not the probe's)."""
    prctl(PR_SET_DUMPABLE, 0)
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    kept = _Evidence(key)
    pending = bytearray()
    finished = False
    open_fds = [evidence, output]
    while not finished and evidence in open_fds:
        ready, _, _ = select.select(open_fds, [], [])
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.remove(fd)
            elif fd == output:
                kept.add_printed(chunk)
            else:
                pending += chunk
                while not finished and (end := pending.find(b"\n")) >= 0:
                    finished = kept.take(bytes(pending[:end]))
                    del pending[:end + 1]
    if not finished:
        return  # the probe died: the job reports that, not the recorder
    if pending:
        kept.forged.append(f"a line the probe did not write: {bytes(pending[:80])!r}")
    os.set_blocking(output, False)
    with contextlib.suppress(OSError):
        while chunk := os.read(output, 1 << 16):
            kept.add_printed(chunk)
    if kept.forged:
        channel.send("forged", {"what": "; ".join(kept.forged)[:600]})
    channel.send("probe", kept.report())


def fitted(result: dict) -> dict:
    """`result` within `REPORT_BUDGET` as a frame: file contents, printed output and log
    messages cut to ever smaller lengths (then records and files dropped) until it fits, and
    as a last resort the error texts cut and the facts dropped (both carry the agent's own
    text: an exception message, a value's ``str``), each cut named in ``flooded``."""
    limit = MAX_FILE_BYTES
    while len(dumps(result)) > REPORT_BUDGET and limit >= 64:
        limit //= 4
        for key in ("files", "erased"):
            result[key] = {p: t[:limit] for p, t in result[key].items()}
        result["stdout"] = result["stdout"][-limit:]
        result["logs"] = [{**r, "message": r["message"][:limit],
                           **({"extra": r["extra"][:limit]} if "extra" in r else {})}
                          for r in result["logs"]]
        result["sent"] = [{**d, "data": d["data"][:limit]} for d in result["sent"]]
        result["flooded"].append(f"the report cut files, output and log messages to {limit:,} "
                                 f"characters each to fit {REPORT_BUDGET:,} bytes")
    if len(dumps(result)) > REPORT_BUDGET:
        result["flooded"].append(f"{len(result['logs'])} log records and "
                                 f"{len(result['files'])} files dropped to fit the report")
        result["logs"], result["files"], result["erased"], result["sent"] = [], {}, {}, []
    if len(dumps(result)) > REPORT_BUDGET:
        result["flooded"].append("error texts cut and facts dropped to fit the report")
        result["error"] = result["error"] and result["error"][-4096:]
        result["facts"] = {}
        result["situations"] = {name: {"error": run["error"] and run["error"][-4096:],
                                       "facts": {}}
                                for name, run in result["situations"].items()}
    return result
