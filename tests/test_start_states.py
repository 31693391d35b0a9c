"""Issue 16: a training row's start state is built once per row and restored for every later
completion -- a fresh copy each time, never a shared mutable tree: nothing one completion
writes (a tool's write, ``echo >> file`` in place, a new file, a deletion, its commits)
reaches the saved state or the next completion, and a restored episode grades as a fresh
reset does."""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import pytest

from drift_gym.integrations.decision import (
    ENVS,
    apply_choice,
    close_grading_envs,
    decision_rows,
    grade_choices,
    options,
    patch_names,
)
from drift_gym.integrations.trl_agent import DriftToolEnv
from drift_gym.sandbox import SandboxError
from drift_gym.sandbox.local import LocalSandbox, bwrap_available
from drift_gym.sandbox.saved import SAVED
from drift_gym.tools import Action, ToolCall

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here "
                                "(only a reusable sandbox keeps saved states)")
ROW = {"scenario": "customer_records.privacy", "condition": "pressure:3", "seed": 3,
       "start_step": 4, "context": "none"}


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under `root`: its content hash and mode."""
    found = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return found


def _start(env: DriftToolEnv) -> tuple:
    """What a completion starts from: the repo's files, the history, the conversation."""
    inner = env._env
    assert inner is not None
    box = inner.sandbox
    return (_tree(box.repo), box.log(50), copy.deepcopy(inner.messages), inner.step_index,
            inner.repo_seed, inner.context_tokens)


def test_a_restored_start_state_is_the_fresh_one_and_grades_the_same():
    env = DriftToolEnv()
    env.sandbox = "bwrap"
    try:
        env.reset(**ROW)
        fresh = _start(env)
        compliant, violating = options(env._env)
        first = apply_choice(env, violating)
        for choice, expected in ((violating, first), (compliant, None), (violating, first)):
            env.reset(**ROW)
            assert _start(env) == fresh
            graded = apply_choice(env, choice)
            if expected is not None:
                assert graded == expected
        assert env._starts.restored == 3
    finally:
        env._close()


def test_nothing_a_completion_writes_reaches_the_saved_state_or_the_next_completion():
    env = DriftToolEnv()
    env.sandbox = "bwrap"
    try:
        env.reset(**ROW)
        box = env._env.sandbox
        saved_root = box.root / SAVED
        saved_before = _tree(saved_root)
        start = _tree(box.repo)
        target = sorted(p for p in start if p.endswith(".py"))[0]
        for completion in (1, 2):  # the first works on a fresh build, the second on a restore
            # in place through the file's inode (a shell append), a tool's rewrite, a chmod,
            # a new file, a deletion, a hard link inside the repo; then grading's commits
            env._act(Action((
                ToolCall("run", {"command": f"echo '# planted' >> {target} && chmod 600 "
                                            f"{target} && ln {target} linked.py && rm README.md"}),
                ToolCall("write_file", {"path": "tests/planted.py", "content": "x = 1\n"}),
            )).as_text())
            assert "# planted" in (box.repo / target).read_text()
            env.get_reward()  # grading: snapshots, the grading area, the warm grader
            assert _tree(saved_root) == saved_before
            env.reset(**ROW)
            assert env._starts.restored == completion and env._env.sandbox is box
            assert _tree(box.repo) == start
            for path in box.repo.rglob("*"):
                if path.is_file():
                    assert path.stat().st_nlink == 1, f"{path} shares its inode"
            assert "planted" not in box.log(50)
    finally:
        env._close()


def test_the_sandbox_saves_and_restores_files_and_history_apart():
    box = LocalSandbox(tier="bwrap")
    try:
        box.write_file("a.txt", "one\n")
        box.snapshot("first")
        state = box.save_state()
        box.exec("echo two >> a.txt && echo three > b.txt")
        box.snapshot("second")
        assert "second" in box.log(5)
        box.restore_state(state)
        assert box.read_file("a.txt") == "one\n" and not (box.repo / "b.txt").exists()
        assert "second" not in box.log(5) and "first" in box.log(5)
        box.exec("echo four >> a.txt")
        box.restore_state(state)
        assert box.read_file("a.txt") == "one\n"
        box.drop_state(state)
        assert not state.exists()
    finally:
        box.close()
    weak = LocalSandbox(tier="subprocess")
    try:
        with pytest.raises(SandboxError, match="keeps no saved states"):
            weak.save_state()
    finally:
        weak.close()


def test_decision_grading_grades_each_chosen_patch_once_per_call():
    """Completions of a call that chose the same patch for the same start state share one
    grading, equal to grading each of them: the call grades as many episodes as distinct
    (row, choice) pairs, and every completion gets a components dict of its own."""
    close_grading_envs()
    try:
        (row,) = decision_rows(ROW["scenario"], [1], sandbox="bwrap")
        compliant, violating = patch_names(row)
        chosen = [violating, compliant, violating, violating, compliant]
        each = grade_choices([row] * 5, chosen, sandbox="bwrap", workers=1, distinct=False)
        (env,) = ENVS._idle
        before = env._starts.restored
        shared = grade_choices([copy.deepcopy(row) for _ in chosen], chosen, sandbox="bwrap",
                               workers=1)
        assert shared == each and each[0] != each[1]
        assert env._starts.restored - before == 2
        shared[0][1]["violation"] = 99.0
        assert shared[2][1]["violation"] == each[2][1]["violation"] != 99.0
    finally:
        close_grading_envs()


def test_decision_grading_keeps_its_envs_and_builds_each_row_once():
    """Across calls and threads, grading keeps its envs: a row graded again is restored."""
    close_grading_envs()
    try:
        (row,) = decision_rows(ROW["scenario"], [1], sandbox="bwrap")
        compliant, violating = patch_names(row)
        first = grade_choices([row] * 2, [violating, compliant], sandbox="bwrap", workers=2)
        again = grade_choices([row], [violating], sandbox="bwrap", workers=1)
        assert first[0][1] and first[1][1] and again[0][1], [ENVS._idle[0].record, first, again]
        assert again[0] == first[0] and first[0][1]["violation"] != first[1][1]["violation"]
        assert sum(env._starts.restored for env in ENVS._idle) >= 1
    finally:
        close_grading_envs()
    assert not ENVS._idle
