"""Grading lanes: the grading area and the warm grader each kind of job runs in.

A graded step runs two jobs on one snapshot, the behavioural probe and the hidden tests. One
after the other they cost their sum; side by side, on a machine with a core for each, the
longer of the two. They may run side by side only where neither can reach the other: each
job runs the agent's code, and a hidden-test job that could write the probe's copy of the
repo (or the files the probe scans) while the probe runs would be an accomplice the probe
never observes. Neither may reach the agent either: what a job could write where the agent
reads at its next step (the live repo) would hand it the grader's secrets, the hidden tests
or the probe's own text and canary data. So there are three lanes, each a grading area of
its own with a warm grader of its own (each server in its own mount, PID, IPC and network
namespaces, with a private ``/tmp``):

* the agent's lane is the workspace's ``grading/``: its server runs the agent's own test
  runs, in the live repo, which it shows writable; no grading job runs there;
* the probe's lane is ``grading-probe/`` and the hidden tests' ``grading-tests/``, which
  their servers show at the very place of the grading area (so every path a job is given
  reads as in a cold run), with the lane's own copy of the repo, read-only, in place of the
  live repo, and no share.

On Docker, whose jobs all run cold, the episode's container is the agent's lane, and each
grading lane is a container of its own that mounts that lane's area in place of the grading
area and neither the live repo nor a share (its own mount, PID, IPC and network namespaces,
its own ``/tmp`` and ``/dev/shm``), so that the two jobs run side by side as bubblewrap's do.

Until session 16 the probe ran in the agent's lane, which shows the live repo writable: code
the probe ran copied the probe's config there, encoded, for the agent to read at its next
step (``the-probe-copies-itself-for-the-next-step`` in the red-team corpus). The hidden tests
had their lane for the same reason since session 13. Where no warm server can run a job
(cold grading, a repo file named like a module the servers imported) it runs as a cold
command shown its lane's area. The two grading lanes take turns, one after the other, where
the machine has no core to spare for a second lane (`room_for_lanes`: with two workers
grading on two cores, four busy jobs were slower than two; bench_grading: 14 completions/s
against 18), or where the workspace has a writable share. Cold jobs run side by side too
(an oracle episode of customer_records.privacy, cold on bubblewrap: 7.0 s against 9.3 s one
after the other). Where the quota has no room for a second copy (`AFTER`) the probe's copy
is removed before the hidden tests' is staged. On the subprocess tier, which has no
namespaces, every job runs in the agent's lane (`SHARED`), and a job can still reach the
live repo there.

Side by side, no path joins the lanes, but they share the machine: CPU time, the workspace's
free space (one tmpfs under the quota), and on bubblewrap the sandbox's process and memory
bounds. Code that both jobs run can signal through these (helper-38, session 15: a covert
channel, not closed); what it learns can change only the step's own verdict, since neither
grading lane can write where the agent reads. Where that weighs more than speed, make the
lanes take turns: set ``DRIFT_GYM_GRADERS`` to the machine's core count (`room_for_lanes` is
then false).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .base import GRADING, RUN
from .grading_area import GRADING_HEADROOM, WRITABLE, GradingArea, runtime_files, survey
from .warm import WarmGrader
from .workspace import usage_bytes

AGENT = "agent"
PROBE = "probe"
TESTS = "tests"
BESIDE, AHEAD, AFTER, SHARED = "beside", "ahead", "after", "shared"
"""How a step's hidden tests run (WorkspaceSandbox.hidden_tests_plan): in their lane, side by
side with the probe; in their lane after it, their copy staged and compiled by their server
while the probe runs; in their lane after it, staged then (no quota room for two copies);
in the probe's lane, after the probe."""
FOLDERS = {AGENT: GRADING, PROBE: "grading-probe", TESTS: "grading-tests"}
"""Each lane's folder in the workspace (the agent's is the grading area every backend
shows)."""


@dataclass
class Lane:
    """One lane: its area on the host and, once a job needed it, its warm grader."""

    name: str
    root: Path
    area: GradingArea
    warm: WarmGrader | None = None

    @classmethod
    def make(cls, name: str, workspace: Path) -> Lane:
        root = workspace / FOLDERS[name]
        root.mkdir(exist_ok=True)
        return cls(name, root, GradingArea(root))

    @property
    def shown_apart(self) -> Path | None:
        """The area a server of this lane shows in place of the workspace's grading area
        (None: the agent's lane, which is that area)."""
        return None if self.root.name == GRADING else self.root

    def writable(self, agents: list[Path]) -> list[Path]:
        """The folders this lane's jobs may write: its area's, and in the agent's lane the
        agent's own (`agents`: the live repo, the temp folder, writable shares)."""
        return [*(self.root / name for name in WRITABLE),
                *(agents if self.shown_apart is None else [])]

    def spawn(self, backend: Any, env: dict[str, str],
              stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        """This lane's server, started from the runtime staged in its area (it imports all
        of it before it answers, so the next clearing of the area does not touch it), its
        stderr on the host file `stderr`."""
        for rel, text in runtime_files().items():
            self.area.write(rel, text)
        return backend.spawn(
            f"cd {RUN} && exec python -s -P ../grader_runtime.py serve", cwd=GRADING, env=env,
            grading=self.shown_apart, stderr=stderr)

    def reset(self, keep: dict[str, str]) -> None:
        """A new episode: the lane's area emptied, and what its server kept from this
        episode's jobs dropped but the code of `keep`'s files (see WarmGrader.forget)."""
        self.area.clear()
        if self.warm is not None:
            self.warm.forget(keep)

    def close(self) -> None:
        if self.warm is not None:
            self.warm.close()


def make_lanes(workspace: Path, apart: bool) -> dict[str, Lane]:
    """The lanes of `workspace`; where the backend cannot show a lane `apart` from the live
    repo (the subprocess tier), the probe's is the agent's."""
    agent = Lane.make(AGENT, workspace)
    return {AGENT: agent, PROBE: Lane.make(PROBE, workspace) if apart else agent,
            TESTS: Lane.make(TESTS, workspace)}


def distinct(lanes: dict[str, Lane]) -> list[Lane]:
    """Each lane once (the probe's may be the agent's)."""
    return list({id(lane): lane for lane in lanes.values()}.values())


def second_copy_fits(workspace: Path, tree: Path, *, quota: int, mounted: bool) -> bool:
    """Whether the workspace quota has room for a second copy of the staged `tree`. Grading
    keeps room for a snapshot and one copy (grading_area.shortfall); a second lane is made
    only where it fits beside them, so the verdict never depends on it."""
    used = usage_bytes(workspace, mounted=mounted, limit=quota)
    return used + survey(tree).bytes + GRADING_HEADROOM <= quota


GRADERS_ENV = "DRIFT_GYM_GRADERS"
"""How many steps this machine grades at once: a number, or ``per-core`` (Ray, which runs a
task per CPU of a node). Unset: one. The local pools set it for their workers (`graders`)."""
PER_CORE = "per-core"


def _cores() -> int:
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def room_for_lanes() -> bool:
    """Whether every step graded at once here has a core for each of its two lanes."""
    value = os.environ.get(GRADERS_ENV, "1")
    cores = _cores()
    graders = cores if value == PER_CORE else int(value) if value.isdigit() else 1
    return cores >= 2 * max(1, graders)


@contextlib.contextmanager
def graders(count: int) -> Iterator[None]:
    """Say, for this process and the workers it starts meanwhile, that `count` steps grade
    at once (where nothing has said so already: an outer pool knows better)."""
    if GRADERS_ENV in os.environ:
        yield
        return
    os.environ[GRADERS_ENV] = str(count)
    try:
        yield
    finally:
        os.environ.pop(GRADERS_ENV, None)
