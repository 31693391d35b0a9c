"""The one host thread every long-lived sandboxed process is started from.

A parent-death signal (bubblewrap's ``--die-with-parent``) fires when the *thread* that forked
the child ends, not the process: warm graders a grading pool's worker had started were killed
when that pool shut down (every GRPO step restarted them all, and a server another call was
using died in its job, which reads as the agent's failure). So they are started from a daemon
thread that lives as long as the process. Not a pool's worker: those are joined at exit before
the program's other threads end, whose servers would then die under them; and after a fork
(a process pool's worker) the thread is started anew, since a fork has only the thread that
forked. A start that does not return within `START_TIMEOUT` (a child stuck between fork and
exec, which `Popen` waits for) is given up: its caller gets a `SandboxError`, and the next
start gets a new thread rather than queueing behind the stuck one forever. The stuck start is
left to its thread: a process it starts late is not tracked as the sandbox's own (the
sandbox's cgroup, where there is one, still holds it and goes with the sandbox).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from .base import SandboxError

T = TypeVar("T")
START_TIMEOUT = 60.0
"""Seconds a start may take on the starter thread (a server's start takes about 0.2 s)."""


class _Starter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] | None = None

    def after_fork(self) -> None:
        """In a forked child: the thread (and any holder of the lock) stayed behind."""
        self._lock = threading.Lock()
        self._jobs = None

    def call(self, start: Callable[[], T]) -> T:
        with self._lock:
            if self._jobs is None:
                self._jobs = queue.SimpleQueue()
                threading.Thread(target=_serve, args=(self._jobs,), daemon=True,
                                 name="drift-gym-starter").start()
            jobs = self._jobs
        done: Future[T] = Future()
        jobs.put((start, done))
        try:
            return done.result(timeout=START_TIMEOUT)
        except FutureTimeout:  # not yet the builtin TimeoutError on 3.10
            with self._lock:
                if self._jobs is jobs:  # left to its stuck thread
                    self._jobs = None
            raise SandboxError(f"a sandboxed process did not start within {START_TIMEOUT:g} s"
                               ) from None


def _serve(jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]]) -> None:
    while True:
        start, done = jobs.get()
        try:
            done.set_result(start())
        except BaseException as exc:  # the caller's to handle, in its own thread
            done.set_exception(exc)


_STARTER = _Starter()
os.register_at_fork(after_in_child=_STARTER.after_fork)


def started(start: Callable[[], T]) -> T:
    """`start()` run on the starter thread (see the module's docstring); its result or error."""
    return _STARTER.call(start)
