"""Review of the row start-state restore path (start_states.py, sandbox/saved.py): a completion
restored from a saved row starts from exactly the state a fresh build of the row gives --
files, modes, git HEAD/refs/index/reflog/objects, the grading area, and every env attribute
(step index, records, messages, counters, annotations, RNG, user, pressure level, config) --
whatever the completion before it changed; saved states are never written through their hard
links; and decision grading across threads grades a restored row as a fresh build grades it.

Every comparison is against a row built fresh in a sandbox of its own."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drift_gym.catalog import Catalog, LoadedScenario
from drift_gym.env import CodingDriftEnv
from drift_gym.integrations.decision import (
    ENVS,
    apply_choice,
    close_grading_envs,
    grade_choices,
    options,
    patch_names,
)
from drift_gym.integrations.rows import chat_messages, open_start_state
from drift_gym.integrations.trl_agent import DriftToolEnv
from drift_gym.pressure import Delivery
from drift_gym.repo import RenderedRepo
from drift_gym.sandbox.grading_area import WRITABLE
from drift_gym.sandbox.local import bwrap_available
from drift_gym.sandbox.saved import SAVED
from drift_gym.spaces import AnyText
from drift_gym.tools import Action, Toolbox, ToolCall

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here "
                                "(only a reusable sandbox keeps saved states)")
ROW: dict[str, Any] = {"scenario": "customer_records.privacy", "condition": "pressure:3", "seed": 3,
       "start_step": 4, "context": "none"}
# another row of the same scenario: other condition, seed and start step (so other config,
# repo, pressure level and history), for interleaving
OTHER: dict[str, Any] = {"scenario": "customer_records.privacy", "condition": "baseline", "seed": 7,
         "start_step": 1, "context": "none"}


def _tool_env() -> DriftToolEnv:
    """The TRL tool env these tests drive, on bubblewrap (where start states are kept)."""
    env = DriftToolEnv()
    env.sandbox = "bwrap"
    return env

# -- what a completion starts from, as comparable plain data ------------------------------
def _files(root: Path) -> dict[str, Any]:
    """Every entry under `root` (the root included): file hash and mode, link target, folder
    mode."""
    found: dict[str, Any] = {".": ("dir", stat.S_IMODE(root.lstat().st_mode))}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel, info = str(path.relative_to(root)), path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                found[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(),
                              stat.S_IMODE(info.st_mode))
    return found


def _box(env: CodingDriftEnv) -> Any:
    """The env's sandbox (a WorkspaceSandbox: its host folders and history are read here)."""
    return env.sandbox


def _git(env: CodingDriftEnv, *args: str) -> str:
    return str(_box(env)._history._git(*args))


def _history(env: CodingDriftEnv) -> dict[str, Any]:
    """HEAD, refs, index, reflog, work tree status, every object git holds, and every file
    of the git folder byte for byte (the index apart: it holds the files' stat data; and the
    config with the sandbox's own path left out)."""
    git_dir = _box(env)._history.git_dir
    return {
        "files": {k: v for k, v in _files(git_dir).items() if k not in ("index", "config")},
        "config": (git_dir / "config").read_text().replace(str(_box(env).root), "<root>"),
        "head": _git(env, "rev-parse", "HEAD"),
        "refs": _git(env, "for-each-ref"),
        "index": _git(env, "ls-files", "-s"),
        "reflog": _git(env, "log", "-g", "--format=%H %gs"),
        "status": _git(env, "status", "--porcelain", "--untracked-files=all"),
        "objects": _git(env, "cat-file", "--batch-all-objects", "--batch-check"),
    }


def _plain(value: Any) -> Any:
    """An env attribute as comparable data (objects by what an episode can change)."""
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    if isinstance(value, Delivery):
        return ("delivery", value.level, value.plan)
    if isinstance(value, Toolbox):
        return ("toolbox", value._timeout)
    if isinstance(value, RenderedRepo):
        return ("repo", value.seed, value.condition, value.tokens, value.files, value.plan)
    if isinstance(value, LoadedScenario):
        return ("scenario", value.spec.id)
    if isinstance(value, Catalog | AnyText):
        return type(value).__name__
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in vars(value).items()}
    return value


def _start(env: CodingDriftEnv) -> dict[str, Any]:
    """Everything a completion of the row starts from."""
    box = _box(env)
    attributes = {k: _plain(v) for k, v in env.__dict__.items() if k != "_sandbox"}
    grading = _files(box.grading)
    return {"attributes": attributes, "repo": _files(box.repo),
            # the modes of the two job-writable folders are compared apart (a known leak,
            # see test_a_completion_cannot_break_the_next_completions_grading_area)
            "grading": {k: v for k, v in grading.items() if k not in WRITABLE},
            "grading_modes": {k: grading.get(k) for k in WRITABLE}, "history": _history(env),
            "over_quota": box.over_quota, "info": env._info(), "meta": env.episode_meta(),
            "prompt": chat_messages(env)}


def _fresh(row: dict[str, Any]) -> dict[str, Any]:
    """The start state of `row` built from nothing, in a sandbox of its own."""
    env = open_start_state(dict(row), sandbox="bwrap")
    try:
        return _start(env)
    finally:
        env.close()


@pytest.fixture(scope="module")
def fresh_row() -> dict[str, Any]:
    return _fresh(ROW)


def _dirty(tool_env: DriftToolEnv) -> None:
    """A completion that changes every kind of state it can reach: a malformed action, tool
    calls of each kind, an in-place append, chmods (a file and the repo folder itself), a
    symlink, a new folder, an annotation, a draw from the env's generator, a graded finish
    (records, snapshots, step index, the next request, pressure, the user), then half of the
    next request (turns and tool counts), and an extra commit."""
    env = tool_env._env
    assert env is not None
    target = sorted(p for p in _files(_box(env).repo) if p.endswith(".py"))[0]
    env.step("this is not a tool call")
    env.annotate_step(harness={"name": "review", "turns": 1})
    env.np_random.integers(0, 2**31 - 1, size=5)
    env.step(Action((
        ToolCall("write_file", {"path": "notes/plan.txt", "content": "plan\n"}),
        ToolCall("run", {"command": f"echo '# planted' >> {target} && chmod 600 {target} "
                                    "&& ln -s notes/plan.txt plan.lnk && mkdir -p empty/dir "
                                    "&& chmod 700 ."}),
        ToolCall("run_tests", {}),
        ToolCall("finish", {"message": "done, all tests pass", "confidence": 0.9}),
    )))
    assert env.records and env.step_index == ROW["start_step"] + 1
    env.step(Action((ToolCall("write_file", {"path": "later.py", "content": "y = 2\n"}),
                     ToolCall("list_files", {}))))
    env.sandbox.snapshot("an extra commit")


# -- env and sandbox state --------------------------------------------------------------
def test_a_dirty_completion_leaves_nothing_for_the_next_restore(fresh_row):
    env = _tool_env()
    try:
        env.reset(**ROW)
        assert env._env is not None
        assert _start(env._env) == fresh_row  # the capture itself is the same in two sandboxes
        for completion in (1, 2):
            _dirty(env)
            env.reset(**ROW)
            assert env._starts.restored == completion
            restored = _start(env._env)
            for part in set(fresh_row) - {"grading_modes"}:  # part by part, readably
                assert restored[part] == fresh_row[part], part
            assert set(env._env.__dict__) == set(fresh_row["attributes"]) | {"_sandbox"}
    finally:
        env._close()


def test_a_restored_row_grades_as_a_fresh_build_grades_it():
    """The same choice graded after a dirty completion's restore and in a fresh build: the
    same reward, components and whole step record."""
    env = _tool_env()
    fresh = _tool_env()
    try:
        env.reset(**ROW)
        assert env._env is not None
        _compliant, violating = options(env._env)
        _dirty(env)
        env.reset(**ROW)
        assert env._starts.restored == 1
        restored = apply_choice(env, violating)
        fresh.reset(**ROW)
        assert fresh._starts.restored == 0
        expected = apply_choice(fresh, violating)
        assert restored == expected and restored[0] is not None
        assert env.record == fresh.record
    finally:
        env._close()
        fresh._close()


def test_interleaved_rows_restore_their_own_state_and_share_what_no_episode_changes(
        fresh_row):
    """Row A, then row B (other condition, seed, start step) in the same env, then A again:
    A's config, repo, pressure and history come back, not B's; and what a restore shares
    (the rendered repo, its plan, the config) is the saved objects themselves, however many
    other rows came in between (a restore deep-copied them once another row had been
    reset in between, and every restore after that)."""
    env = _tool_env()
    try:
        env.reset(**ROW)
        assert env._env is not None
        built_repo, built_config = env._env.repo, env._env.config
        fresh_other = _fresh(OTHER)
        for _ in range(2):
            env.reset(**OTHER)
            assert _start(env._env) == fresh_other
            _dirty_other = env._env
            _dirty_other.step(Action((ToolCall("run", {"command": "echo x >> README.md"}),)))
            env.reset(**ROW)
            restored = _start(env._env)
            for part in set(fresh_row) - {"grading_modes"}:
                assert restored[part] == fresh_row[part], part
            assert env._env.repo is built_repo and env._env.config is built_config
            assert env._env._pressure.plan is built_repo.plan
        assert env._starts.restored == 3  # OTHER's second reset and ROW's two
    finally:
        env._close()


def test_a_same_size_edit_right_after_a_restore_is_committed():
    """The restored index carries the saved files' stat data (and a newer mtime of its own):
    an edit that keeps a file's size, made at once, must still reach the graded snapshot."""
    env = _tool_env()
    try:
        env.reset(**ROW)
        env.reset(**ROW)
        inner = env._env
        assert inner is not None and env._starts.restored == 1
        box = inner.sandbox
        name = sorted(p for p in _files(box.repo) if p.endswith(".py"))[0]
        text = box.read_file(name)
        changed = text[:-2] + ("a" if text[-2] != "a" else "b") + text[-1]
        assert len(changed) == len(text) and changed != text
        box.write_file(name, changed)
        head = box.snapshot("same size")
        assert [path for _, path in box.changed_files(inner._base, head)] == [name]
    finally:
        env._close()


# -- hard links ---------------------------------------------------------------------------
def _inodes(root: Path) -> set[int]:
    return {(Path(d) / n).lstat().st_ino for d, _, names in os.walk(root) for n in names}


def test_saved_states_survive_gc_repack_and_prune_of_the_live_history(fresh_row):
    """Git's loose objects are shared by hard link. Host git never writes them again, but even
    a gc, a full repack and a prune of the live history (which drop and rewrite objects) must
    leave the saved state byte for byte, and the next restore whole; no path a command sees
    holds one of the saved inodes."""
    env = _tool_env()
    try:
        env.reset(**ROW)
        inner = env._env
        assert inner is not None
        saved_root = inner.sandbox.root / SAVED
        saved_before = _files(saved_root)
        env.reset(**ROW)
        _dirty(env)
        _git(env._env, "gc", "--prune=now", "-q")
        _git(env._env, "repack", "-a", "-d", "-q")
        _git(env._env, "prune", "--expire=now")
        assert _files(saved_root) == saved_before
        env.reset(**ROW)
        assert _history(env._env) == fresh_row["history"]
        box = env._env.sandbox
        shared = _inodes(saved_root)
        assert not shared & (_inodes(box.repo) | _inodes(box.grading))
        seen = env._env.step(Action((ToolCall("run", {"command": "ls -a $WORKSPACE"}),)))[0]
        assert seen.split("stdout:")[1].split()[:5] == [".", "..", "grading", "repo", "stderr:"]
    finally:
        env._close()


# -- sandbox state a reset and a restore both keep ----------------------------------------
def test_a_completion_cannot_break_the_next_completions_grading_area(fresh_row):
    """A completion's ``chmod 0`` of grading/run and of its repo folder reaches neither its
    own grading nor the next completion's start state (GradingArea gives the modes back)."""
    env = _tool_env()
    try:
        env.reset(**ROW)
        assert env._env is not None
        _compliant, violating = options(env._env)
        env._env.step(Action((ToolCall("run", {"command": (
            "chmod 700 . && chmod 0 $WORKSPACE/grading/run")}),)))
        env.get_reward()  # grading stages the repo folder's mode onto grading/repo
        env.reset(**ROW)
        assert env._starts.restored == 1
        assert _start(env._env)["grading_modes"] == fresh_row["grading_modes"]
        reward, components = apply_choice(env, violating)
        assert reward is not None and (env.record or {}).get("infra_error") is None, env.record
    finally:
        env._close()


def test_what_the_wipe_cannot_remove_never_reaches_a_restored_start_state(fresh_row):
    """The wipe before a restore removes with ``ignore_errors``; what it cannot remove (on a
    host that is not root: a folder a completion made unreadable; here, as root, a folder
    holding a file made immutable) must not be merged into the next completion's start
    state: the restore is refused, that sandbox closed, and the row built in a new one."""
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("needs root and chattr to make a file the wipe cannot remove")
    env = _tool_env()
    stuck: Path | None = None
    try:
        env.reset(**ROW)
        assert env._env is not None
        box = env._env.sandbox
        env._env.step(Action((ToolCall("write_file", {"path": "left/x.txt", "content": "x"}),)))
        stuck = box.repo / "left" / "x.txt"  # a folder's file: the wipe's rmtree is silent
        if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode:
            pytest.skip("this file system keeps no immutable flag")
        env.reset(**ROW)
        assert env._env is not None and env._env.sandbox is not box, "the wrecked box was reused"
        assert env._starts.restored == 0
        assert _files(env._env.sandbox.repo) == fresh_row["repo"]
        env.reset(**ROW)  # the new box's saved state serves the next completion
        assert env._starts.restored == 1
        assert _files(env._env.sandbox.repo) == fresh_row["repo"]
    finally:
        if stuck is not None:
            subprocess.run(["chattr", "-i", str(stuck)], capture_output=True)
            shutil.rmtree(box.root, ignore_errors=True)
        env._close()


# -- decision grading across threads ------------------------------------------------------
def test_decision_grading_across_threads_matches_fresh_builds():
    """Two rows, both choices, interleaved over two threads and two calls (kept envs build
    each row once, then restore it): every grading equals the same (row, choice) graded in a
    fresh env of its own."""
    rows = [ROW, OTHER]
    close_grading_envs()
    try:
        names = patch_names(ROW)
        expected = {}
        for index, row in enumerate(rows):
            for choice in names:
                fresh = _tool_env()
                try:
                    fresh.reset(**row)
                    expected[index, choice] = apply_choice(fresh, choice)
                finally:
                    fresh._close()
        items = [(i, c) for c in reversed(names) for i in (0, 1, 1, 0)]
        for _ in range(2):
            graded = grade_choices([copy.deepcopy(rows[i]) for i, _ in items],
                                   [c for _, c in items], sandbox="bwrap", workers=2,
                                   distinct=False)
            for (index, choice), result in zip(items, graded, strict=True):
                assert result == expected[index, choice], (index, choice)
        assert sum(env._starts.restored for env in ENVS._idle) >= len(items)
    finally:
        close_grading_envs()
