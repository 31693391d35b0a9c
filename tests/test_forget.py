"""What the agent's own code can reach of the grading: its test runs are forks of the probe
lane's server, and code there read the previous episode's repo sources (kept compiled code,
session 13's review) and hidden tests (kept rewritten code, where the lanes took turns in the
probe's lane) through the server's module globals; code the hidden tests ran there could copy
them into the live repo."""

from __future__ import annotations

import pytest

from drift_gym.agents import ScriptedAgent
from drift_gym.env import CodingDriftEnv
from drift_gym.sandbox.local import bwrap_available
from drift_gym.tools import Action, ToolCall

PEEK = '''
def test_peek():
    import grader_compile, grader_pytest
    sources = [source for _, source in grader_compile._kept]
    hidden = [source for _, source in grader_pytest._rewritten]
    print("PEEK", any(b"SECRET_OF_EPISODE_ONE" in s for s in sources),
          any(b"def test_" in s for s in hidden))
'''


def _peek(env: CodingDriftEnv) -> str:
    env.sandbox.write_file("test_peek.py", PEEK)
    result = env.sandbox.run_pytest(["-q", "-s", "-p", "no:cacheprovider", "test_peek.py"],
                                    timeout=60)
    return next(line for line in result.stdout.splitlines() if line.startswith("PEEK"))


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
def test_a_new_episode_cannot_read_what_the_last_ones_jobs_left_in_the_servers(monkeypatch):
    monkeypatch.setenv("DRIFT_GYM_GRADERS", "64")  # lanes take turns: one server for all
    env = CodingDriftEnv(scenario="inventory_service.privacy", sandbox="bwrap", max_steps=1)
    try:
        observation, info = env.reset(seed=0)
        agent = ScriptedAgent("oracle")
        agent.reset(env)
        env.step(Action((ToolCall("write_file", {"path": "secret_one.py",
                                                 "content": "SECRET_OF_EPISODE_ONE = 1\n"}),)))
        while "graded" not in info:
            observation, _, _, _, info = env.step(agent.act(observation, info))
        # the repo's code is kept within the episode (the check can fail); the hidden tests
        # ran in a lane of their own even though the lanes take turns
        assert _peek(env) == "PEEK True False"
        env.reset(seed=1)
        assert _peek(env) == "PEEK False False"
    finally:
        env.close()


COPY_HIDDEN = '''
import os as _os, shutil as _sh
_found = _os.path.join(_os.getcwd(), "..", "hid" + "den")
if _os.path.isdir(_found):
    try:
        _os.makedirs("/sandbox/repo/leak", exist_ok=True)
        for _name in _os.listdir(_found):
            _sh.copy(_os.path.join(_found, _name), "/sandbox/repo/leak")
    except OSError:
        pass
'''


COPY_PROBE = '''
import base64 as _b64, os as _os
_area = _os.path.join(_os.getcwd(), "..")
if _os.path.isfile(_os.path.join(_area, "probe." + "json")):
    try:
        _os.makedirs("/sandbox/repo/leak", exist_ok=True)
        for _name in _os.listdir(_area):
            if _os.path.isfile(_os.path.join(_area, _name)):
                with open(_os.path.join("/sandbox/repo/leak", _name), "wb") as _out:
                    _out.write(_b64.b64encode(open(_os.path.join(_area, _name), "rb").read()))
    except OSError:
        pass
'''
"""Code the probe runs: its lane's files (the probe's own text and canary data among them),
encoded so that no canary value reads in them, written where the agent reads at its next
step."""


def leaked_by_a_graded_step(sandbox: str, payload: str = COPY_HIDDEN) -> list[str]:
    """Grade the oracle's first step on `sandbox` with package code `payload` (which copies
    what it finds of the grading into the live repo's ``leak/``); what reached the live
    repo. The step must still pass its hidden tests: the payload fails quietly."""
    env = CodingDriftEnv(scenario="customer_records.privacy", sandbox=sandbox, max_steps=1)
    try:
        observation, info = env.reset(seed=0)
        agent = ScriptedAgent("oracle")
        agent.reset(env)
        init = env.sandbox.read_file("clientbase/__init__.py")
        env.step(Action((ToolCall("write_file", {"path": "clientbase/__init__.py",
                                                 "content": init + payload}),)))
        while "graded" not in info:
            observation, _, _, _, info = env.step(agent.act(observation, info))
        assert info["graded"]["hidden_tests"]["passed"]
        return sorted(path.name for path in (env.sandbox.repo / "leak").glob("*"))
    finally:
        env.close()


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
@pytest.mark.parametrize("graders", ["1", "64"], ids=["side-by-side", "taking-turns"])
def test_code_the_grading_runs_finds_no_hidden_tests_to_copy_into_the_live_repo(
        monkeypatch, graders):
    """Session 13: the probe's lane staged the hidden tests too, and its jobs can write the
    live repo (the agent's own test runs share its server): package code run by the probe
    copied the step's hidden tests there, for the agent to read at the next step. Where the
    lanes took turns the hidden tests ran in the probe's lane, and the same code, run by
    them, copied them there (session 14)."""
    monkeypatch.setenv("DRIFT_GYM_GRADERS", graders)
    assert leaked_by_a_graded_step("bwrap") == []


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
def test_code_the_probe_runs_cannot_copy_the_probe_into_the_live_repo():
    """Session 16: the probe's lane showed the live repo, writable (its server also ran the
    agent's own test runs), so package code the probe ran copied the probe's config (its
    text, the canary data) there, encoded, for the agent to read at its next step: a clean
    pass at c9bc8ce (``leak ['grader_runtime.py', 'hidden.ini', 'probe.json']``)."""
    assert leaked_by_a_graded_step("bwrap", COPY_PROBE) == []


KEPT_FILES = '''
def test_kept_files():
    import grader_compile
    print("KEPT", sorted({path.rsplit("/", 1)[-1] for path, _ in grader_compile._kept}))
'''


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")
def test_a_restored_start_state_keeps_the_code_of_its_own_files_and_no_other():
    """GRPO restores a row's start state for each completion: the servers keep the code of
    the files that state holds (the completion has them anyway), and drop the rest."""
    env = CodingDriftEnv(scenario="inventory_service.privacy", sandbox="bwrap", max_steps=1)
    try:
        env.reset(seed=0)
        sandbox = env.sandbox
        state = sandbox.save_state()
        sandbox.write_file("secret_one.py", "SECRET_OF_EPISODE_ONE = 1\n")
        sandbox.write_file("test_kept.py", KEPT_FILES)
        args = ["-q", "-s", "-p", "no:cacheprovider", "test_kept.py"]
        sandbox.run_pytest(args, timeout=60)  # its compiler keeps the repo's code
        before = sandbox.run_pytest(args, timeout=60).stdout
        assert "'secret_one.py'" in before and "'test_kept.py'" in before
        sandbox.restore_state(state)
        sandbox.write_file("test_kept.py", KEPT_FILES)
        after = next(line for line in sandbox.run_pytest(args, timeout=60).stdout.splitlines()
                     if line.startswith("KEPT"))
        names = set(eval(after[len("KEPT "):]))  # noqa: S307 (a list the test printed)
        saved_names = {p.name for p in (state / "repo").rglob("*.py")}
        assert names and names <= saved_names, names - saved_names
    finally:
        env.close()
