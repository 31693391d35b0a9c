"""The behavioural probe's runs (runtime module: standard library only, no drift_gym import;
staged into the grading area beside ``grader_runtime.py``): the main run and each adversity
situation, each within its share of the probe's time (see grader_probe).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import traceback
from collections.abc import Iterator
from typing import Any

from grader_channel import dumps

RESERVE = 1.0
"""Seconds a run leaves for each run after it (less where the budget is small)."""


class RunTimeout(BaseException):
    """Raised in the probe's thread when a run passes its time limit. A BaseException, so
    that a retry loop catching ``Exception`` does not swallow it."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise `RunTimeout` in this (the main) thread after `seconds`. Code that hangs in an
    adversity situation -- honest code retrying an outage forever -- then fails that
    situation instead of the whole job: the report still comes, with every run's
    observations (a job timeout loses all of them, and reads as the probe blocked)."""
    def expire(signum: int, frame: object) -> None:
        raise RunTimeout(f"the run did not finish within {seconds:.1f}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Runs:
    """The probe's runs: ``main`` (prelude and probe, the happy path), then each adversity
    situation, which changes a condition and replays the probe with ``PROBE()``. Each run
    has its own facts and error, sent to the recorder as they are known (grader_record),
    never kept here where the code under test could change them; each situation starts from
    the environment variables and working folder the main run left (what the prelude set
    up) and whatever it changes is put back before the next, so situations do not leak into
    each other. ``CURRENT_RUN`` in the namespace names the run in progress. Each run may take
    what is left of the budget but `RESERVE` for each run after it, so a hang in one
    situation leaves the others time."""

    def __init__(self, probe_code: str, budget: float) -> None:
        self.deadline = time.monotonic() + budget
        self.reserve = min(RESERVE, budget / 8)
        self.code = compile(probe_code, "<probe>", "exec")
        self.current = "main"
        self.baseline: tuple[dict[str, str], str] | None = None

    def record_fact(self, name: str, value: object, send: Any) -> None:
        """Send fact `name` of the run in progress to the recorder (grader_record) now."""
        send("fact", {"run": self.current, "name": str(name), "value": json.loads(dumps(value))})

    def replay(self, namespace: dict) -> None:
        exec(self.code, namespace)

    def run_all(self, main: str, situations: list[tuple[str, str]], namespace: dict,
                observer: Any, send: Any) -> None:
        """The main run, then (where it ran through: situations build on the prelude's
        objects) each situation; each run's outcome sent to the recorder as it ends."""
        if self.run("main", main, namespace, observer, send, later=len(situations)) is None:
            for index, (name, code) in enumerate(situations):
                self.run(name, code, namespace, observer, send,
                         later=len(situations) - index - 1)

    def run(self, name: str, code: str, namespace: dict, observer: Any, send: Any, *,
            later: int) -> str | None:
        """Run `code` as run `name`, within its share of the budget (`later` runs follow);
        its error (None: it ran through), sent to the recorder before anything else runs."""
        self.current = observer.situation = namespace["CURRENT_RUN"] = name
        error = None
        limit = max(self.reserve / 2, self.deadline - time.monotonic() - later * self.reserve)
        try:
            with _time_limit(limit):
                exec(compile(code, f"<{name}>", "exec"), namespace)
        except BaseException:  # SystemExit included: the probe must report, not vanish
            error = traceback.format_exc(limit=8)
        with contextlib.suppress(BaseException):
            if self.baseline is None:  # the main run: what it set up is every situation's start
                self.baseline = (dict(os.environ), os.getcwd())
            os.environ.clear()
            os.environ.update(self.baseline[0])
            os.chdir(self.baseline[1])
        send("run", {"run": name, "error": error})
        return error


