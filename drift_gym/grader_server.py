"""The warm grader, inside the sandbox (runtime module: standard library and pytest only, no
drift_gym import; staged into the grading area beside ``grader_runtime.py``).

One long-lived process per sandbox that has imported what every job shares (pytest and its
internals, the probe runtime, the standard library the repos use) but **never the repo under
test**. Each job runs in a ``fork()`` of it: its own session, output to the job's file,
killed with its whole tree at its deadline, every process it left killed after it, and every
file it left in the temp folder removed (on bubblewrap that folder is the server's own tmpfs,
which forks share). The server denies its jobs ptrace and ``/proc/PID/mem`` and adopts their
orphans, so nothing a job does reaches the server or the next job.

Before each fork the server freezes its own objects out of the garbage collector's
generations (``gc.freeze``): a fork then neither copies the server's heap by collecting it nor
sees the server's objects in ``gc.get_objects()``, which probe code may walk.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from grader_channel import Channel

# Modules every job needs and no repo can change: imported once by the server, inherited by
# each forked job. The repo under test is never imported here.
WARM_MODULES = ("pytest", "_pytest.python", "_pytest.runner", "_pytest.fixtures",
                "_pytest.junitxml", "_pytest.monkeypatch", "_pytest.tmpdir", "_pytest.capture",
                "_pytest.logging", "_pytest.skipping", "_pytest.assertion.rewrite", "ast",
                "base64", "csv", "dataclasses", "datetime", "decimal", "enum", "functools",
                "hmac", "http.client", "http.server", "ipaddress", "itertools", "operator",
                "random", "re", "secrets", "socket", "ssl", "statistics", "string", "typing",
                "urllib.parse", "urllib.request", "uuid", "xml.etree.ElementTree", "zlib")


def run_job(argv: list[str]) -> None:
    """One job, ``probe CONFIG.json`` or ``pytest ARGS...``, in this process; it ends with
    ``os._exit`` after its last frame (a cold job is a fresh interpreter, a warm one a fork)."""
    channel = Channel()
    channel.send("start", {"mode": argv[0]})
    if argv[0] == "probe":
        from grader_probe import probe

        probe(argv[1], channel)
    from grader_pytest import run_pytest

    run_pytest(argv[1:], channel)


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


def _scratch() -> str | None:
    """The sandbox's own temp folder, which every fork shares: ``TMPDIR`` as the backend set
    it (bubblewrap's private tmpfs, the subprocess tier's workspace ``tmp/``). Without it the
    server cleans nothing (it never sweeps a temp folder others use)."""
    return os.environ.get("TMPDIR") or None


def _temp_entries() -> set[str]:
    folder = _scratch()
    if folder is not None:
        with contextlib.suppress(OSError):
            return set(os.listdir(folder))
    return set()


def _remove_new_temp(before: set[str]) -> None:
    """Remove what the job added to the temp folder (its probe state, its files): the next
    job, like a cold one, starts without them."""
    folder = _scratch()
    if folder is None:
        return
    for name in _temp_entries() - before:
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)


def _child(job: dict[str, Any]) -> None:
    """The forked job: its own session and output, the server's pipes closed, then run."""
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
        run_job(job["argv"])
    except BaseException:
        traceback.print_exc()
    os._exit(70)


def _run_forked(job: dict[str, Any]) -> dict[str, Any]:
    """One job in a fresh fork, killed with its whole tree at its deadline; every process
    it left is killed and every temp file it left removed after it."""
    if job["argv"][:1] == ["pytest"]:
        from grader_pytest import prepare

        prepare(job["argv"], job["cwd"], job.get("owned"))
    before = _temp_entries()
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        _child(job)
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
    _remove_new_temp(before)
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
    stdin ({id, argv, cwd, timeout, out, owned}) and answer one JSON line per job on
    stdout (`owned`: the grading area's root and its job-writable folders, see
    grader_pytest.prepare)."""
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
