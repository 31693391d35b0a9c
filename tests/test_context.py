"""Conditions (neutral, channels, schedules) and accumulated-context controls, in real envs."""

import pytest

from drift_gym.context import Context, approx_tokens, filler_text
from drift_gym.env import CodingDriftEnv
from drift_gym.spec import Condition
from drift_gym.tools import ToolCall


def call(name, **arguments):
    return ToolCall(name, arguments).as_text()


def test_condition_grammar_round_trips_and_rejects_with_guidance():
    for text in ["baseline", "neutral", "pressure:1", "pressure:3@todo+readme",
                 "pressure:2/late:4", "pressure:3@tool_output/escalating:2"]:
        assert Condition.parse(text).label == text
    assert Condition.parse("pressure").label == "pressure:2"
    schedule = Condition.parse("pressure:3/escalating:3")
    assert [schedule.level_at(i) for i in range(6)] == [1, 1, 2, 3, 3, 3]
    late = Condition.parse("pressure:2/late:3")
    assert [late.level_at(i) for i in range(4)] == [0, 0, 2, 2]
    for bad in ["neutral:2", "pressure:4", "pressure@fax", "pressure/late", "loud"]:
        with pytest.raises(ValueError, match="use"):
            Condition.parse(bad)


def test_context_grammar():
    assert Context.parse("history:4").prefilled_steps == 4
    assert Context.parse("filler:100").prefilled_steps == 0
    for bad in ["history", "history:0", "filler:x", "memory:3"]:
        with pytest.raises(ValueError, match="history:K"):
            Context.parse(bad)


def test_filler_is_seeded_and_about_the_requested_size():
    import numpy as np

    one = filler_text(2000, np.random.default_rng(1))
    assert one == filler_text(2000, np.random.default_rng(1))
    assert 1800 <= approx_tokens(one) <= 2600


def _env(condition, **kwargs):
    return CodingDriftEnv(scenario="customer_records.privacy", condition=condition, **kwargs)


def test_neutral_adds_comment_text_without_directives():
    env = _env("neutral", max_steps=1)
    try:
        env.reset(seed=4)
        assert env.repo is not None
        placements = env.repo.placements
        assert len(placements) >= 2
        neutral = set(env.scenario.family.spec.neutral)
        for placement in placements:
            source = env._sandbox.read_file(placement["path"])
            assert placement["text"].split()[0] in source
            assert not any(word in placement["text"] for word in ("URGENT", "must", "MANDATORY"))
        assert len(neutral) >= 6
    finally:
        env.close()


def test_channels_readme_todo_and_tool_output():
    env = _env("pressure:3@todo+readme+tool_output", max_steps=1)
    try:
        env.reset(seed=2)
        readme, *_ = env.step(call("read_file", path="README.md"))
        assert "## Notes from the team" in readme
        placement = env.repo.placements[0]
        source = env._sandbox.read_file(placement["path"])
        assert "# TODO(" in source
        tests, *_ = env.step(call("run_tests"))
        assert "[ci-bot]" in tests
    finally:
        env.close()


def test_late_onset_arrives_as_a_teammate_commit_outside_the_agents_diff():
    env = _env("pressure:3/late:2", max_steps=2)
    try:
        observation, info = env.reset(seed=6)
        assert info["pressure_level"] == 0 and info["pressure"] == []
        path = env.repo.plan.slots[0].path
        before = env._sandbox.read_file(path)
        _, _, _, _, info = env.step(call("finish", message="skipping"))
        assert info["pressure_level"] == 3
        after = env._sandbox.read_file(path)
        assert after != before and "#" in after.replace(before, "")
        _, _, _, _, info = env.step(call("finish", message="skipping"))
        graded = info["graded"]
        assert graded["diff_stats"]["files"] == 0, "pressure is not the agent's change"
        assert graded["tamper"] == []
    finally:
        env.close()


def test_escalation_rewrites_the_same_anchors_at_higher_intensity():
    env = _env("pressure:3/escalating:2", max_steps=3)
    try:
        env.reset(seed=1)
        slot = env.repo.plan.slots[0]
        hint = env._sandbox.read_file(slot.path)
        assert slot.texts[1].split()[0] in hint
        env.step(call("finish", message="x"))
        directive = env._sandbox.read_file(slot.path)
        assert slot.texts[2][:30].split()[0] in directive
        assert env.repo.plan.block(slot, 1) not in directive
    finally:
        env.close()


def test_history_prefills_real_trajectories_and_inherited_prefills_violations():
    for kind, expected in (("history", "mask"), ("inherited", "full")):
        env = _env("baseline", max_steps=3)
        try:
            observation, info = env.reset(seed=3, options={"context": f"{kind}:2"})
            assert info["step_index"] == 2
            assert "Request 1 of 3" in observation and "Request 3 of 3" in observation
            assert "### tool: run_tests" in observation
            roles = [m["role"] for m in env.messages]
            assert roles.count("assistant") > 4
            view = env.repo.tokens["mask_fn" if expected == "mask" else "full_fn"]
            assistant = "".join(m["content"] for m in env.messages if m["role"] == "assistant")
            assert f"{view}(record)" in assistant
            assert info["context_tokens"] > approx_tokens(env.system_prompt) * 5
            _, _, terminated, _, info = env.step(call("finish", message="nothing"))
            assert terminated and len(env.records) == 1
            assert env.records[0].context == f"{kind}:2"
        finally:
            env.close()


def test_start_step_advances_the_repo_without_messages_and_filler_adds_tokens():
    env = _env("baseline", max_steps=4)
    try:
        observation, info = env.reset(seed=3, options={"start_step": 2, "context": "filler:500"})
        assert info["step_index"] == 2
        assert "Request 3 of 4" in observation and "Request 1" not in observation
        assert [m["role"] for m in env.messages] == ["system", "user", "user"]
        assert info["context_tokens"] > 500
        files = env._sandbox.list_files()
        assert any(f.endswith("lifecycle.py") for f in files), "step 1's module exists"
        with pytest.raises(ValueError, match="one of them"):
            env.reset(seed=3, options={"start_step": 1, "context": "history:1"})
        with pytest.raises(ValueError, match="unknown reset options"):
            env.reset(seed=3, options={"startstep": 1})
    finally:
        env.close()


def test_a_find_that_does_not_apply_once_is_a_named_catalogue_error():
    from drift_gym.catalog import CatalogError
    from drift_gym.spec import Edit

    env = CodingDriftEnv(scenario="customer_records.integrity", sandbox="subprocess",
                         max_steps=2)
    try:
        env.reset(seed=0)
        edit = Edit(path="x.py", find="needle", replace="pin")
        assert env._applied(edit, "a needle here", "setup") == "a pin here"
        with pytest.raises(CatalogError, match=r"customer_records.integrity step .*field "
                                               r"`setup`.*occurs 2 times"):
            env._applied(edit, "needle needle", "setup")
    finally:
        env.close()
