"""Grading lanes (sandbox/lanes.py): on bubblewrap a step's probe and hidden tests run side by
side, each in a grading area and warm grader of its own, and neither can reach the other."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drift_gym.executors import LocalExecutor
from drift_gym.grading import run_hidden_tests
from drift_gym.sandbox import core
from drift_gym.sandbox.grading_area import GRADING_HEADROOM, runtime_files, survey
from drift_gym.sandbox.lanes import (
    AFTER,
    AGENT,
    AHEAD,
    BESIDE,
    FOLDERS,
    GRADERS_ENV,
    PROBE,
    SHARED,
    TESTS,
    graders,
    room_for_lanes,
    second_copy_fits,
)
from drift_gym.sandbox.local import LocalSandbox, bwrap_available
from drift_gym.sandbox.workspace import usage_bytes

needs_bwrap = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                     reason="lanes run apart only with a core for each")

# What a hidden-test job sees: run in each lane, it tells the lanes apart.
LOOKS_AROUND = '''import os

def test_no_live_repo():
    assert not os.path.exists("/sandbox/repo/live.txt")
    assert os.path.exists("/sandbox/repo/shop.py")  # its own copy, read-only
    try:
        open("/sandbox/repo/planted.txt", "w").close()
    except OSError:
        pass
    else:
        raise AssertionError("the repo shown in place of the live one is writable")

def test_not_the_probes_copy():
    assert not os.path.exists("/sandbox/grading/probe-only.txt")

def test_its_own_copy_and_run_folder():
    assert os.path.exists("/sandbox/grading/repo/shop.py")
    with open("/sandbox/grading/run/left.txt", "w") as handle:
        handle.write("x")
'''
NAMES = {"test_no_live_repo", "test_not_the_probes_copy", "test_its_own_copy_and_run_folder"}


@contextlib.contextmanager
def _shop(tier: str = "bwrap") -> Iterator[LocalSandbox]:
    """A sandbox whose repo holds one module, snapshotted (what grading stages)."""
    with LocalSandbox(tier=tier) as box:
        box.write_file("shop.py", "PRICE = 1\n")
        box.snapshot("base")
        yield box


def _staged(box: LocalSandbox) -> dict[str, str]:
    ini = f"[pytest]\npythonpath = {box.workspace_path('grading', 'repo')}\n"
    return {"hidden/test_step_01.py": LOOKS_AROUND, "hidden.ini": ini}


@needs_bwrap
@needs_two_cores
def test_no_grading_lane_sees_the_live_repo_or_another_lanes_files():
    with _shop() as box:
        box.write_file("live.txt", "the agent's live tree\n")
        box.stage_grading({**_staged(box), "probe-only.txt": "the probe's lane\n"})
        assert box.hidden_tests_plan() == BESIDE
        box.stage_grading(_staged(box), lane=TESTS)
        apart, findings = run_hidden_tests(box, "test_step_01", NAMES, lane=TESTS)
        assert findings == [] and apart.passed and apart.total == 3, apart.output_tail
        assert (box.root / FOLDERS[TESTS] / "run" / "left.txt").exists()
        assert not (box.root / FOLDERS[PROBE] / "run" / "left.txt").exists()
        # the probe's lane shows no live repo either, only its own files (the check can fail)
        probes, _ = run_hidden_tests(box, "test_step_01", NAMES, lane=PROBE)
        assert probes.failures == ("test_step_01::test_not_the_probes_copy",)
        # the agent's lane, where its own test runs go, shows the live repo, writable
        box.stage_grading(_staged(box), lane=AGENT)
        agents, _ = run_hidden_tests(box, "test_step_01", NAMES, lane=AGENT)
        assert "test_step_01::test_no_live_repo" in agents.failures
        box.clear_grading()
        assert not any((box.root / folder / "hidden").exists() for folder in FOLDERS.values())


KILLS_ITS_SERVER = '''import os, signal

def test_kill():
    os.kill(os.getppid(), signal.SIGKILL)
'''


@needs_bwrap
@needs_two_cores
def test_a_hidden_tests_server_killed_by_its_job_is_back_before_the_next_jobs_start():
    with _shop() as box:
        killer = {**_staged(box), "hidden/test_step_01.py": KILLS_ITS_SERVER}
        box.stage_grading(killer)
        assert box.hidden_tests_plan() == BESIDE
        box.stage_grading(killer, lane=TESTS)
        dead, findings = run_hidden_tests(box, "test_step_01", {"test_kill"}, lane=TESTS)
        assert not dead.passed and any("[job-died]" in f for f in findings), findings
        box.stage_grading(_staged(box))
        assert box.hidden_tests_plan() == BESIDE  # its server started again here
        lane = box._lanes[TESTS]  # noqa: SLF001 (the lane's server, up before the job)
        assert lane.warm is not None and lane.warm._proc is not None  # noqa: SLF001
        assert lane.warm._proc.poll() is None  # noqa: SLF001
        box.stage_grading(_staged(box), lane=TESTS)
        back, findings = run_hidden_tests(box, "test_step_01", NAMES, lane=TESTS)
        assert back.passed and findings == [], back.output_tail


@needs_bwrap
@needs_two_cores
def test_lanes_run_apart_only_where_each_server_has_namespaces_of_its_own():
    with _shop() as box:
        box.stage_grading(_staged(box))
        assert box.hidden_tests_plan() == BESIDE
        box.grading_mode = "cold"
        assert box.hidden_tests_plan() == BESIDE  # cold jobs too, each in a lane of its own
    with _shop("subprocess") as weak:
        weak.stage_grading(_staged(weak))
        assert weak.hidden_tests_plan() == SHARED


@needs_bwrap
@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_a_grading_job_hands_over_only_its_own_lanes_folders(monkeypatch, mode):
    """Jobs run side by side, warm or cold. A cold probe went through `exec`, which hands
    over both lanes' folders: walked by path while the hidden tests' job ran, a folder that
    job swapped for a link would have handed host files to the sandbox's uid."""
    handed: list[list[Path]] = []
    real = core.hand_over
    monkeypatch.setattr(core, "hand_over",
                        lambda uid, tops: (handed.append(list(tops)), real(uid, tops))[1])
    with _shop() as box:
        box.grading_mode = mode
        for lane in (PROBE, TESTS):
            box.stage_grading(_staged(box), lane=lane)
        tests_lane = box.root / FOLDERS[TESTS]
        for lane, argv in ((PROBE, ["probe", "../probe.json"]),
                           (TESTS, ["pytest", "-q", "../hidden"])):
            handed.clear()
            box.grading_job(argv, timeout=60, lane=lane)
            shown = [top for tops in handed for top in tops]
            assert shown and all((tests_lane in top.parents) == (lane == TESTS)
                                 for top in shown), (lane, shown)


@needs_bwrap
@pytest.mark.parametrize("why", ["cold grading", "a file named like a module the servers run"])
def test_hidden_tests_that_run_cold_still_run_apart_from_the_live_repo(why):
    """A repo file named like a stdlib module the servers imported (``statistics.py``) made
    every job run cold, and the hidden tests then ran in the probe's lane, where they copied
    themselves into the live repo (helper-36, session 14); cold grading did the same."""
    with _shop() as box:
        if why == "cold grading":
            box.grading_mode = "cold"
        else:
            box.write_file("helpers/statistics.py", "MEAN = 0\n")
            box.snapshot("shadow")
        box.write_file("live.txt", "the agent's live tree, which the probe scans\n")
        box.stage_grading({**_staged(box), "probe-only.txt": "the probe's lane\n"})
        assert box.hidden_tests_plan() in (BESIDE, AHEAD)  # a lane of their own either way
        box.stage_grading({**_staged(box), **runtime_files()}, lane=TESTS)  # as grading does
        outcome, findings = run_hidden_tests(box, "test_step_01", NAMES, lane=TESTS)
        assert findings == [] and outcome.passed and outcome.total == 3, outcome.output_tail
        assert (box.root / "grading-tests" / "run" / "left.txt").exists()


WRITES_THE_SHARE = """import os

def test_the_share_is_not_there():
    assert not os.path.exists("{inside}")
    try:
        open("{inside}/leaked.py", "w").close()
    except OSError:
        return
    raise AssertionError("the hidden tests' lane can write a writable share")
"""


@needs_bwrap
def test_the_hidden_tests_lane_shows_no_share(tmp_path):
    """A harness's writable state folder is shown to every command; the hidden tests wrote
    themselves into it, for the agent to read at the next step (helper-36, session 14), and
    a read-only share still let them connect to a socket there (helper-37)."""
    with _shop() as box:
        inside = box.share(tmp_path, writable=True)
        written = box.exec(f"echo x > {inside}/agent.txt && cat {inside}/agent.txt")
        assert written.stdout.strip() == "x"  # the agent's own commands write it
        box.stage_grading(_staged(box))
        assert box.hidden_tests_plan() == AHEAD  # never beside the probe, which can write it
        test = WRITES_THE_SHARE.format(inside=inside)
        box.stage_grading({**_staged(box), "hidden/test_step_01.py": test}, lane=TESTS)
        outcome, _ = run_hidden_tests(box, "test_step_01", {"test_the_share_is_not_there"},
                                      lane=TESTS)
        assert outcome.passed and not (tmp_path / "leaked.py").exists(), outcome.output_tail


def test_a_second_copy_is_made_only_where_the_quota_has_room_for_it(tmp_path):
    workspace = tmp_path / "workspace"
    tree = workspace / "grading" / "repo"
    tree.mkdir(parents=True)
    (tree / "data.bin").write_bytes(b"x" * 300_000)
    used = usage_bytes(workspace, mounted=False, limit=2**40)
    room = used + survey(tree).bytes + GRADING_HEADROOM
    assert second_copy_fits(workspace, tree, quota=room, mounted=False)
    assert not second_copy_fits(workspace, tree, quota=room - 1, mounted=False)


@needs_bwrap
@needs_two_cores
def test_a_tight_quota_makes_the_jobs_take_turns_and_leaves_the_verdict_alone():
    with LocalSandbox(tier="bwrap") as box:
        box.write_file("shop.py", "PRICE = 1\n" + "# padding\n" * 20_000)
        assert box.grading_shortfall() is None
        box.snapshot("base")
        box.stage_grading(_staged(box))
        assert box.hidden_tests_plan() == BESIDE
        used = usage_bytes(box.root, mounted=box._quota_mounted, limit=2**40)  # noqa: SLF001
        box.quota = used + survey(box.grading / "repo").bytes  # no room for a second copy
        assert box.hidden_tests_plan() == AFTER  # still apart, one after the other
        box.clear_grading()
        box.stage_grading(_staged(box), lane=TESTS)
        outcome, findings = run_hidden_tests(box, "test_step_01", NAMES, lane=TESTS)
        assert findings == [] and outcome.passed and outcome.total == 3, outcome.output_tail


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
            with _shop() as box:
                box.stage_grading(_staged(box))
                assert box.hidden_tests_plan() == AHEAD
    finally:
        pool.close()
    assert room_for_lanes()


KEPT_BEFORE_THE_JOB = '''import grader_compile

def test_kept_before_the_job():
    path = "/sandbox/grading/repo/shop.py"
    with open(path, "rb") as handle:
        assert (path, handle.read()) in grader_compile._kept
'''


@needs_bwrap
def test_the_hidden_tests_server_compiles_its_copy_while_the_probe_runs():
    """Where the lanes take turns (`AHEAD`), the hidden tests' copy is staged before the probe
    runs and its server compiles it meanwhile: the job imports kept code, not the source
    (the probe's server compiled the repo for the hidden tests when both ran there)."""
    with _shop() as box:
        box.stage_grading(_staged(box))
        assert box.hidden_tests_plan() in (BESIDE, AHEAD)  # both servers up
        staged = {**_staged(box), "hidden/test_step_01.py": KEPT_BEFORE_THE_JOB}
        box.stage_grading(staged, lane=TESTS)
        cold, _ = run_hidden_tests(box, "test_step_01", {"test_kept_before_the_job"}, TESTS)
        assert not cold.passed  # nothing compiled ahead: the check can fail
        box.write_file("shop.py", "PRICE = 2\n")  # bytes no job has compiled yet
        box.snapshot("next")
        box.stage_grading(staged, lane=TESTS)
        box.compile_ahead(TESTS)
        time.sleep(0.3)  # the probe's job
        ahead, findings = run_hidden_tests(box, "test_step_01", {"test_kept_before_the_job"},
                                           TESTS)
        assert ahead.passed and findings == [], ahead.output_tail


@needs_bwrap
def test_a_hidden_tests_server_that_will_not_start_leaves_their_job_cold_in_their_lane():
    """The hidden tests' server failing to start (twice) makes their job a cold command in
    their lane, never a step the grader cannot grade, nor one in the probe's lane."""
    with _shop() as box:
        box.write_file("live.txt", "the agent's live tree, which the probe scans\n")
        box.stage_grading({**_staged(box), "probe-only.txt": "the probe's lane\n"})
        box._lanes[TESTS].spawn = lambda backend, env, log: subprocess.Popen(  # noqa: SLF001
            ["false"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert box.hidden_tests_plan() in (BESIDE, AHEAD)  # a lane of their own either way
        box.stage_grading({**_staged(box), **runtime_files()}, lane=TESTS)
        outcome, findings = run_hidden_tests(box, "test_step_01", NAMES, lane=TESTS)
        assert findings == [] and outcome.passed and outcome.total == 3, outcome.output_tail
