"""Grading lanes (sandbox/lanes.py): on bubblewrap a step's probe and hidden tests run side by
side, each in a grading area and warm grader of its own, and neither can reach the other."""

from __future__ import annotations

import os

import pytest

from drift_gym.executors import LocalExecutor
from drift_gym.grading import run_hidden_tests
from drift_gym.sandbox.grading_area import shortfall, survey
from drift_gym.sandbox.lanes import GRADERS_ENV, PROBE, TESTS, graders, room_for_lanes
from drift_gym.sandbox.local import LocalSandbox, bwrap_available

needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                     reason="lanes run apart only with a core for each")

# What a hidden-test job sees: run in each lane, it tells the lanes apart.
LOOKS_AROUND = '''import os

def test_no_live_repo():
    assert not os.path.exists("/sandbox/repo/live.txt")
    assert not os.path.isdir("/sandbox/repo")

def test_not_the_probes_copy():
    assert not os.path.exists("/sandbox/grading/probe-only.txt")

def test_its_own_copy_and_run_folder():
    assert os.path.exists("/sandbox/grading/repo/shop.py")
    with open("/sandbox/grading/run/left.txt", "w") as handle:
        handle.write("x")
'''
NAMES = {"test_no_live_repo", "test_not_the_probes_copy", "test_its_own_copy_and_run_folder"}


def _staged(box: LocalSandbox) -> dict[str, str]:
    ini = f"[pytest]\npythonpath = {box.workspace_path('grading', 'repo')}\n"
    return {"hidden/test_step_01.py": LOOKS_AROUND, "hidden.ini": ini}


@needs_bwrap
@needs_two_cores
def test_the_hidden_tests_lane_sees_neither_the_live_repo_nor_the_probes_copy():
    with LocalSandbox(tier="bwrap") as box:
        box.write_file("shop.py", "PRICE = 1\n")
        box.snapshot("base")
        box.write_file("live.txt", "the agent's live tree, which the probe scans\n")
        assert box.parallel_lanes()
        box.stage_grading({**_staged(box), "probe-only.txt": "the probe's lane\n"})
        box.stage_grading(_staged(box), lane=TESTS)
        apart, findings = run_hidden_tests(box, "test_step_01", NAMES, lane=TESTS)
        assert findings == [] and apart.passed and apart.total == 3, apart.output_tail
        # the same tests in the probe's lane see both: the check above can fail
        together, _ = run_hidden_tests(box, "test_step_01", NAMES, lane=PROBE)
        assert sorted(together.failures) == ["test_step_01::test_no_live_repo",
                                             "test_step_01::test_not_the_probes_copy"]
        assert not (box.repo / "left.txt").exists()
        box.clear_grading()
        assert not (box.root / "grading-tests" / "hidden").exists()


@needs_bwrap
@needs_two_cores
def test_lanes_run_apart_only_where_each_server_has_namespaces_of_its_own():
    with LocalSandbox(tier="bwrap") as box:
        box.write_file("shop.py", "PRICE = 1\n")
        box.snapshot("base")
        box.stage_grading(_staged(box))
        assert box.parallel_lanes()
        box.grading_mode = "cold"
        assert not box.parallel_lanes()
    with LocalSandbox(tier="subprocess") as weak:
        weak.write_file("shop.py", "PRICE = 1\n")
        weak.snapshot("base")
        weak.stage_grading(_staged(weak))
        assert not weak.parallel_lanes()


def test_grading_room_counts_a_copy_of_the_repo_per_lane(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"x" * 300_000)
    tree = survey(tmp_path)
    # two copies and a snapshot need three times the repo; two of them fit, not three
    quota = 2 * tree.bytes + 3 * tree.names + 2**20 + tree.bytes // 2
    assert shortfall(tmp_path, used=0, quota=quota, copies=1) is None
    refused = shortfall(tmp_path, used=0, quota=quota, copies=2)
    assert refused is not None and "2 copies" in refused


@needs_two_cores
def test_lanes_take_turns_where_every_core_already_grades_a_step(monkeypatch):
    monkeypatch.delenv(GRADERS_ENV, raising=False)
    cores = len(os.sched_getaffinity(0))
    assert room_for_lanes() == (cores >= 2)
    with graders(cores):
        assert not room_for_lanes()
        with graders(1):  # an outer pool knows better
            assert os.environ[GRADERS_ENV] == str(cores)
    assert GRADERS_ENV not in os.environ
    monkeypatch.setenv(GRADERS_ENV, "per-core")
    assert not room_for_lanes()
    monkeypatch.delenv(GRADERS_ENV)
    pool = LocalExecutor(cores, threads=True)
    try:
        assert not room_for_lanes()
        if bwrap_available():
            with LocalSandbox(tier="bwrap") as box:
                box.write_file("shop.py", "PRICE = 1\n")
                box.snapshot("base")
                box.stage_grading(_staged(box))
                assert not box.parallel_lanes()
    finally:
        pool.close()
    assert room_for_lanes()
