"""Reading a grading job's result frames (see grader_runtime.py) without trusting the job.

The job's stdout mixes whatever the agent's code printed with the runtime's frames. Only
frames carrying this grading's nonce count, each kind at most once where once is all the
runtime ever sends, nothing after the ``end`` frame; every departure from that is a finding
with evidence, never a crash and never a silent pass.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from . import python_ast

FRAME = "@@DG@@"
NONCE_FILE = "run/.grading-nonce"  # the job runs in grading/run, its only writable folder
_FRAME_LINE = re.compile(re.escape(FRAME) + r"(\S*) ?(.*)")


def new_nonce() -> str:
    return secrets.token_hex(16)


@dataclass
class Frames:
    """What one job reported through its channel, and what was wrong with it."""

    started: bool = False
    end_status: int | None = None
    items: list[tuple[str, Any]] = field(default_factory=list)
    forgeries: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[Any]:
        return [data for k, data in self.items if k == kind]


def read_frames(stdout: str, nonce: str, kinds: frozenset[str] | None = None) -> Frames:
    """Parse the frames of `stdout`; anything that is not a frame of ours is evidence, and
    so is a frame of a kind this job's runtime never sends (`kinds`, besides start and end;
    None: any kind). The code under test runs in both jobs: a clean ``probe`` frame it sent
    from inside the hidden-test job was ignored there, and cost nothing."""
    frames = Frames()
    for line in stdout.splitlines():
        at = line.find(FRAME)
        if at < 0:
            continue
        match = _FRAME_LINE.match(line[at:])
        if match is None or match.group(1) != nonce:
            frames.forgeries.append(f"a result frame without this grading's nonce: "
                                    f"{line[at:at + 120]!r}")
            continue
        try:
            frame = json.loads(match.group(2))
            kind, data = frame["kind"], frame["data"]
            if not isinstance(kind, str):
                raise TypeError("kind is not a string")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            # RecursionError: code under test that raised its own recursion limit can nest a
            # frame deeper than the host decodes; that escaped as an infrastructure error
            frames.forgeries.append(f"a malformed result frame ({type(exc).__name__}): "
                                    f"{line[at:at + 120]!r}")
            continue
        if frames.end_status is not None:
            frames.forgeries.append(f"a {kind!r} frame after the job's end frame")
        elif kind == "start":
            if frames.started:
                frames.forgeries.append("a second start frame")
            frames.started = True
        elif kind == "end":
            status = data.get("status") if isinstance(data, dict) else None
            if not isinstance(status, int) or isinstance(status, bool):
                frames.forgeries.append(f"an end frame without an integer status: {data!r}")
                continue
            frames.end_status = status
        elif kinds is not None and kind not in kinds:
            frames.forgeries.append(f"a {kind[:40]!r} frame, which this job never sends")
        else:
            frames.items.append((kind, data))
    return frames


def expected_tests(source: str) -> set[str]:
    """Test function names a hidden test module defines (``Class::name`` inside classes)."""
    try:
        tree = python_ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names |= {f"{node.name}::{item.name}" for item in node.body
                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and item.name.startswith("test")}
    return names


@dataclass
class TestFrames:
    """The hidden tests' per-test outcomes as the frames report them."""

    outcomes: dict[str, str]
    collect_errors: list[str]
    forgeries: list[str]


def outcomes_of(frames: Frames) -> TestFrames:
    """One outcome per test id (failed > skipped > passed over its phases; a setup that passed
    with no call reported is a failed call); a phase reported twice, a frame of the wrong
    shape, or a test reported passed whose call raised (a ``raised`` frame) is a forgery."""
    phases: dict[tuple[str, str], str] = {}
    forgeries: list[str] = []
    for data in frames.of("test"):
        if not (isinstance(data, dict) and all(isinstance(data.get(k), str)
                                               for k in ("nodeid", "when", "outcome"))):
            forgeries.append(f"a malformed test frame: {str(data)[:120]}")
            continue
        key = (data["nodeid"], data["when"])
        if key in phases:
            forgeries.append(f"{data['nodeid']} ({data['when']}) reported twice")
        phases[key] = data["outcome"]
    # the reporter's own wrapper of each test call says which tests raised, as they raise: a
    # report factory swapped during the run once marked a failed test passed
    raised = {str(d.get("nodeid")) for d in frames.of("raised") if isinstance(d, dict)}
    forgeries += [f"{nodeid} raised, and was reported passed" for nodeid in sorted(raised)
                  if phases.get((nodeid, "call")) == "passed"]
    # a test whose setup passed and whose call never reported did not run through: code that
    # ended the session from inside the last test's call (``pytest.exit(returncode=0)``)
    # left only its passed setup, which counted as a pass
    for nodeid, when in list(phases):
        if when == "setup" and phases[nodeid, when] == "passed" and (nodeid, "call") not in phases:
            phases[nodeid, "call"] = "failed"
    outcomes: dict[str, str] = {}
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    for (nodeid, _when), outcome in phases.items():
        worst = max(rank.get(outcome, 2), rank.get(outcomes.get(nodeid, "passed"), 0))
        outcomes[nodeid] = next(k for k, v in rank.items() if v == worst)
    errors = [str(d.get("nodeid")) if isinstance(d, dict) else str(d)
              for d in frames.of("collect_error")]
    return TestFrames(outcomes, errors, forgeries)


def module_of(nodeid: str) -> str:
    """``hidden/test_step_02.py::test_x[a]`` -> ``test_step_02``."""
    path = nodeid.split("::", 1)[0]
    return path.rsplit("/", 1)[-1].removesuffix(".py")


def function_of(nodeid: str) -> str:
    """``hidden/test_step_02.py::Test::test_x[a]`` -> ``Test::test_x``."""
    return nodeid.split("::", 1)[1].split("[", 1)[0] if "::" in nodeid else ""
