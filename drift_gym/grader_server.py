"""The warm grader, inside the sandbox (runtime module: standard library and pytest only, no
drift_gym import; staged into the grading area beside ``grader_runtime.py``).

One long-lived process per sandbox and grading lane that has imported what every job shares
(pytest and its internals, the probe runtime, the standard library the repos use) but
**never the repo under test**. Each job runs in a ``fork()`` of it: its own session, its
stdout and stderr on pipes the server reads under a byte cap (head and tail, as a cold
command's output is read), killed
with its whole tree at its deadline, every process it left killed after it, and every file it
left in the temp folder removed (on bubblewrap that folder is the server's own tmpfs, which
forks share), as is every System V IPC object (grader_leftovers). The server denies its
jobs ptrace and ``/proc/PID/mem`` and adopts their orphans, so nothing a job does reaches the
server or the next job.

Jobs are the grader's (``probe``, ``pytest``: frames on the trusted channel) or the agent's own
visible test run (``visible``: ``python -m pytest ARGS`` as the agent's shell would run it, see
grader_pytest.run_visible). The server is started with ``-s -P`` rather than ``-I`` so that the
environment the host gives every sandboxed command (``PYTHONHASHSEED``,
``PYTHONDONTWRITEBYTECODE``, ``PYTHONUTF8``) applies to its forks as it does to a cold
``python``; the environment is the host's own (nothing of the agent's reaches it), and ``-s``
and ``-P`` keep the user site and the script's folder off ``sys.path`` as ``-I`` does.

Before each fork the server freezes its own objects out of the garbage collector's
generations (``gc.freeze``): a fork then neither copies the server's heap by collecting it nor
sees the server's objects in ``gc.get_objects()``, which probe code may walk.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import importlib
import io
import json
import os
import platform
import resource
import select
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grader_compile
from grader_channel import Capped, Channel, roomy_pipe
from grader_fixtures import learn
from grader_leftovers import process_state, remove_ipc, remove_new_temp, temp_entries
from grader_pytest import forget as grader_pytest_forget
from grader_record import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, pidfd, prctl

# Modules every job needs and no repo can change: imported once by the server, inherited by
# each forked job. The repo under test is never imported here.
WARM_MODULES = ("pytest", "_pytest.python", "_pytest.runner", "_pytest.fixtures",
                "_pytest.junitxml", "_pytest.monkeypatch", "_pytest.tmpdir", "_pytest.capture",
                "_pytest.logging", "_pytest.skipping", "_pytest.assertion.rewrite", "ast",
                "base64", "csv", "dataclasses", "datetime", "decimal", "enum", "functools",
                "hmac", "http.client", "http.server", "ipaddress", "itertools", "operator",
                "random", "re", "secrets", "socket", "ssl", "statistics", "string", "typing",
                "urllib.parse", "urllib.request", "uuid", "xml.etree.ElementTree", "zlib")


DRAIN_EVERY = 0.02
"""How often the server reads a running job's pipes (seconds)."""


def run_job(argv: list[str]) -> None:
    """One job, ``probe CONFIG.json``, ``pytest ARGS...`` or ``visible ARGS...``, in this
    process; a grader's job ends with ``os._exit`` after its last frame, a visible run with
    ``SystemExit`` as ``python -m pytest`` does (a cold job is a fresh interpreter, a warm one a
    fork)."""
    if argv[0] == "visible":
        from grader_pytest import run_visible

        run_visible(argv[1:])
    channel = Channel()
    channel.send("start", {"mode": argv[0]})
    if argv[0] == "probe":
        from grader_probe import probe

        probe(argv[1], channel)
    from grader_pytest import run_pytest

    run_pytest(argv[1:], channel)


def _harden_server() -> None:
    """Deny ptrace and /proc/PID/mem on the server to its own jobs (same uid:
    PR_SET_DUMPABLE 0), and adopt every orphan a job leaves (PR_SET_CHILD_SUBREAPER), so
    that a daemonised leftover is still the server's child and is killed after the job."""
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)


REAP_ROUNDS = 200
"""Rounds of killing a job's leftovers before the server gives up and exits (a new server,
in a new sandbox, serves the next job). Each round kills every living process below the
server at once, so only what was forked during the round is left for the next."""


def _stat(pid: str) -> tuple[int, str] | None:
    """(parent pid, state letter) of process `pid`, None when it is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0]
    return None


def _descendants() -> list[int]:
    """Every living process below the server, however deep. The kernel's list of the
    server's own children answers the common case, none: an orphan is re-parented to the
    server (a subreaper), so nothing lives below a server without children. Otherwise one
    scan of /proc (the sandbox's processes on bubblewrap, every process of the host on the
    subprocess tier) follows parent links down from the server: killing only direct children
    let a chain of processes that each made themselves a subreaper lose one layer per round
    and outlive the cleanup, into later jobs and episodes."""
    mine = os.getpid()
    with contextlib.suppress(OSError, ValueError):
        if not Path(f"/proc/{mine}/task/{mine}/children").read_text().split():
            return []
    below: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(entry)) is not None and info[1] not in "ZX":
            below.setdefault(info[0], []).append(int(entry))
    found, todo = [], list(below.get(mine, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(below.get(pid, []))
    return found


def _reap_children() -> None:
    """SIGKILL every process below the server (a job's leftovers) and reap those adopted as
    orphans. Where some still live after `REAP_ROUNDS` rounds the server exits rather than
    serve a job beside them: on bubblewrap its exit ends the sandbox's PID namespace and all
    in it, the job that left them gets no answer (a job that died, see warm.LOST) and the
    host starts a new server for the next job."""
    for _ in range(REAP_ROUNDS):
        alive = _descendants()
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        if not alive:
            return
        time.sleep(0.002)
    os._exit(75)


def _exit_status(exc: SystemExit) -> int:
    """What a normal interpreter exit on `exc` does that a job can observe, done here: its
    status (a non-integer code printed, status 1), non-daemon threads joined, exit handlers
    run, standard streams flushed. The rest of finalization (tearing down every module) is
    left out: in a fork it would touch, and copy, the whole inherited heap for nothing."""
    code = exc.code
    status = 0 if code is None else code if isinstance(code, int) else 1
    if not isinstance(code, int | None):
        with contextlib.suppress(BaseException):
            print(code, file=sys.stderr)
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    return status


KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
"""The ``keyctl`` system call number, where known (see sandbox/keyrings.py, which the host
uses and this runtime cannot import)."""
_SYSCALL = ctypes.CDLL(None, use_errno=True).syscall
"""libc's ``syscall``, looked up once by the server, not in every job."""


def _own_session_keyring() -> None:
    """Join a new session keyring: the server's own serves every episode of a reused sandbox,
    and a key one job stored there would reach the next (sandbox/keyrings.py)."""
    if KEYCTL is not None:
        _SYSCALL(KEYCTL, 1, None)  # JOIN_SESSION_KEYRING


def _child(job: dict[str, Any], out: int, err: int) -> None:
    """The forked job: its own session, its output on the server's pipes, the server's own
    descriptors closed, then run. A visible run ends as the interpreter ends after a cold
    ``python -m pytest`` (see `_exit_status`)."""
    try:
        os.setsid()
        _own_session_keyring()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.closerange(3, 65536)  # the server's pipes to the host are not the job's
        os.chdir(job["cwd"])
        limit = int(job["timeout"]) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))
        sys.argv = ["grader_runtime.py", *job["argv"]]
        run_job(job["argv"])
    except SystemExit as exc:
        if job["argv"][:1] == ["visible"]:
            os._exit(_exit_status(exc))
        traceback.print_exc()
    except BaseException:
        traceback.print_exc()
    os._exit(70)


def _drain(streams: dict[int, Capped]) -> None:
    """Read what the job's pipes hold now, without waiting."""
    for fd, capped in streams.items():
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            capped.add(chunk)


def _collect(pid: int, streams: dict[int, Capped], deadline: float,
             ended: Callable[[], None] | None = None) -> tuple[int, bool]:
    """Wait for the job, killing its tree at the deadline, and read its pipes: every
    ``DRAIN_EVERY`` while it runs (a job's output wakes the server a few times, not once per
    write: the pipes hold ``grader_channel.PIPE_SIZE``), the rest once it and all it left
    are dead; `ended` is called once the job is over, before its leftovers are killed.
    (status, timed out)"""
    exited = pidfd(pid)
    for fd in streams:
        os.set_blocking(fd, False)
    try:
        while True:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done or time.monotonic() > deadline:
                break
            _drain(streams)
            wait = min(DRAIN_EVERY, max(0.0, deadline - time.monotonic()))
            if exited is not None:
                select.select([exited], [], [], wait)
            else:
                time.sleep(min(wait, 0.002))
    finally:
        if exited is not None:
            os.close(exited)
    with contextlib.suppress(OSError):
        os.killpg(pid, 9)
    status = os.waitstatus_to_exitcode(raw if done else os.waitpid(pid, 0)[1])
    if ended is not None:
        ended()  # before its leftovers are killed: they are not all the job's
    _reap_children()  # its leftovers: no writer of the pipes is left
    _drain(streams)
    return status, not done


def _run_forked(job: dict[str, Any]) -> dict[str, Any]:
    """One job in a fresh fork, killed with its whole tree at its deadline; every process
    it left is killed, and every temp file and IPC object it left removed, after it."""
    grader_compile.finish(time.monotonic())  # one asked for ahead (`compile_ahead`): its code
    if job["argv"][:1] in (["pytest"], ["visible"]):
        from grader_pytest import prepare

        prepare(job["argv"], job["cwd"], job.get("owned"))
    before = temp_entries()
    out_r, out_w = roomy_pipe()
    err_r, err_w = roomy_pipe()
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        _child(job, out_w, err_w)
    deadline = time.monotonic() + float(job["timeout"])
    os.close(out_w)
    os.close(err_w)
    cap = int(job.get("cap", 1 << 20))
    out, err = Capped(cap), Capped(cap)
    try:
        if isinstance(job.get("sources"), str):
            grader_compile.start(job["sources"])  # beside the job, for the jobs after it
        status, timed_out = _collect(pid, {out_r: out, err_r: err}, deadline,
                                     lambda: grader_compile.finish(time.monotonic()))
    finally:
        os.close(out_r)
        os.close(err_r)
        grader_compile.finish(time.monotonic())  # where the job's wait itself failed
    _reap_children()
    remove_new_temp(before)
    remove_ipc()
    exit_code = 128 - status if status < 0 else status
    return {"id": job["id"], "exit_code": 124 if timed_out else exit_code,
            "timed_out": timed_out, "stdout": out.text(), "stderr": err.text(),
            "truncated": out.truncated or err.truncated}


def forget(job_id: Any, keep: dict[str, str]) -> dict[str, Any]:
    """Before a new episode: drop what the server kept from earlier jobs (the repo's code,
    the hidden tests' rewritten code), which the agent's own test runs, forks of this server,
    could otherwise read; but the code of `keep`'s files (path: SHA-256 of the content),
    which the new episode holds anyway."""
    grader_compile.forget(keep)
    grader_pytest_forget()
    gc.collect()
    return {"id": job_id, "forgotten": True}


def compile_ahead(job_id: Any, sources: str) -> dict[str, Any]:
    """Have the repo at `sources` compiled now, for the next job (the hidden tests' lane
    where the lanes take turns: its copy is staged while the probe runs in the other lane,
    and its server would otherwise compile the whole repo in the job); that job keeps what
    the compiler sent by its start (see grader_compile)."""
    grader_compile.finish(time.monotonic())
    grader_compile.start(sources)
    return {"id": job_id, "compiling": True}


def _rehearse() -> None:
    """One pytest session over an empty folder, output discarded: pytest imports much of
    itself lazily, on the first session; afterwards every fork starts with it loaded."""
    import pytest

    with tempfile.TemporaryDirectory() as empty, contextlib.suppress(BaseException), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", empty, empty])


def imported_names(startup: set[str]) -> list[str]:
    """The top-level modules this server has imported beyond the interpreter's start-up:
    a repo file of one of these names would shadow it in a cold run but not in a fork (the
    host runs such a job cold, see sandbox/warm.py)."""
    return sorted({name.split(".")[0] for name in sys.modules} - startup)


def serve(startup: set[str]) -> None:
    """The warm grader: import what jobs share once, then read one JSON job per line on
    stdin ({id, argv, cwd, timeout, cap, owned, sources}) and answer one JSON line per job
    on stdout ({id, exit_code, timed_out, stdout, stderr, truncated}; `owned`: the grading
    area's root and its job-writable folders, see grader_pytest.prepare; `sources`: the repo
    whose modules are compiled beside the job, see grader_compile), or a request to
    `forget` or `compile_ahead`. `startup`: the top-level modules the interpreter had
    before the runtime ran."""
    for name in WARM_MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    learn(_rehearse)
    grader_compile.install()
    _harden_server()
    state = process_state()
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    print(json.dumps({"ready": os.getpid(), "modules": imported_names(startup)}), file=reply)
    for line in sys.stdin:
        try:
            job = json.loads(line)
            answer = forget(job["id"], job.get("keep") or {}) if job.get("forget") \
                else compile_ahead(job["id"], str(job["compile"])) if job.get("compile") \
                else _run_forked(job)
        except Exception as exc:  # a bad request is the host's bug: say so, keep serving
            answer = {"id": None, "error": f"{type(exc).__name__}: {exc}"}
        if process_state() != state:  # a job changed what later forks inherit
            print(json.dumps({**answer, "retire": True}), file=reply)
            return
        print(json.dumps(answer), file=reply)
