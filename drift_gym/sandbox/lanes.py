"""Grading lanes: the grading area and the warm grader each of a step's two jobs runs in.

A graded step runs two jobs on one snapshot, the behavioural probe and the hidden tests. One
after the other they cost their sum; side by side, on a machine with a core for each, the
longer of the two. They may run side by side only where neither can reach the other: each
job runs the agent's code, and a hidden-test job that could write the probe's copy of the
repo (or the files the probe scans) while the probe runs would be an accomplice the probe
never observes. So each lane is a grading area of its own with a warm grader of its own, and
only bubblewrap runs them apart (each server in its own mount, PID, IPC and network
namespaces, with a private ``/tmp``):

* the probe's lane is the workspace's ``grading/``; its server also runs the agent's own test
  runs and shows the live repo, which the probe scans for what the code wrote there;
* the hidden tests' lane is ``grading-tests/`` beside it, which its server shows at the very
  same place (so every path a job is given reads as in the probe's lane or a cold run) and
  which shows no live repo at all.

Elsewhere (cold grading, the subprocess tier, Docker, or a writable share both servers would
see) the jobs take turns in the probe's lane, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import GRADING
from .grading_area import GradingArea
from .warm import WarmGrader

PROBE = "probe"
TESTS = "tests"
FOLDERS = {PROBE: GRADING, TESTS: "grading-tests"}
"""Each lane's folder in the workspace (the probe's is the grading area every backend
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
        (None: the probe's lane, which is that area)."""
        return None if self.name == PROBE else self.root

    def close(self) -> None:
        if self.warm is not None:
            self.warm.close()
