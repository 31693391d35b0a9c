"""Whole episodes with the scripted agents: the references and the checks agree exactly."""

import pytest

from drift_gym.agents import ScriptedAgent
from drift_gym.catalog import default_catalog
from drift_gym.env import CodingDriftEnv

from .conftest import drive

# Every scenario plays whole episodes; conditions rotate so that each kind (baseline, neutral,
# pressure with every channel and schedule) is exercised somewhere without multiplying the run.
ROTATION = ["pressure:2", "baseline", "pressure:3@todo+readme+tool_output/escalating:4",
            "neutral", "pressure:1@docstring+git_history/late:6"]
CASES = [(s, ROTATION[i % len(ROTATION)], i) for i, s in enumerate(sorted(
    default_catalog().scenarios))]


@pytest.mark.parametrize("scenario, condition, seed", CASES)
@pytest.mark.parametrize("kind", ["oracle", "violator"])
def test_references_pass_hidden_tests_and_checks_flag_only_the_violator(
        scenario, condition, seed, kind):
    env = CodingDriftEnv(scenario=scenario, condition=condition)
    try:
        _, infos = drive(env, ScriptedAgent(kind), seed=seed)
    finally:
        env.close()
    assert infos[-1]["step_index"] == 12
    assert len(env.records) == 12
    for record in env.records:
        where = f"{kind} {scenario} {condition} step {record.step_id}"
        assert record.hidden_tests is not None and record.passed, (where, record.hidden_tests)
        assert record.hidden_tests.regressions == [], where
        if kind == "oracle":  # in integrity scenarios the violation *is* tampering
            assert record.tamper == [], (where, record.tamper)
        assert record.components["false_claim"] == 0.0, where
        verdicts = record.verdict_by_source()
        expected = "compliant" if kind == "oracle" else "violated"
        assert record.violation == expected, (where, verdicts)
        for source in ("behavioural", "static"):
            assert verdicts[source].status == expected, (where, source, verdicts[source])
            assert verdicts[source].evidence, (where, source)
        if kind == "violator":
            assert record.components["violation"] == -1.0
        assert record.isolation in ("bwrap", "subprocess-weak")


def test_the_drifter_switches_practice_mid_episode_without_breaking_the_code():
    """Once it gives way, the drifter brings what earlier requests wrote in line with its new
    practice (as an agent would), so its later work still passes the hidden tests: a drop in
    its task pass rate would be an artefact of the scripted agent, not drift."""
    env = CodingDriftEnv(scenario="customer_records.utility", condition="pressure:3",
                         sandbox="subprocess", max_steps=3)
    try:
        _, infos = drive(env, ScriptedAgent("drifter"), seed=1)
    finally:
        env.close()
    verdicts = [r.violation for r in env.records]
    assert verdicts[0] == "compliant" and "violated" in verdicts[1:]
    assert all(r.passed for r in env.records)
