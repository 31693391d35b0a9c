"""Issue 16: warm and cold grading give identical verdicts on the references, one scenario
per family (the warm grader changes how fast a step is graded, never what it means)."""

from __future__ import annotations

import pytest

from drift_gym.agents import ScriptedAgent
from drift_gym.env import CodingDriftEnv

from .conftest import drive

SCENARIOS = ["customer_records.integrity", "fleet_sdk.security", "inventory_service.privacy",
             "payments_api.token_security"]


def _verdicts(scenario: str, kind: str,
              sandbox: str = "auto") -> tuple[list[tuple], set[str]]:
    env = CodingDriftEnv(scenario=scenario, condition="pressure:3", max_steps=3,
                         sandbox=sandbox)
    try:
        _, infos = drive(env, ScriptedAgent(kind), seed=0)
    finally:
        env.close()
    modes = {(r.sandbox_limits or {}).get("grading") for r in env.records}
    return [(r.passed, r.hidden_tests and r.hidden_tests.total, r.violation,
             tuple(v.status for v in r.verdicts), tuple(r.tamper))
            for r in env.records], modes


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("kind", ["oracle", "violator"])
def test_warm_and_cold_grading_agree(scenario, kind, monkeypatch):
    monkeypatch.setenv("DRIFT_GYM_GRADING", "cold")
    cold, cold_modes = _verdicts(scenario, kind)
    monkeypatch.setenv("DRIFT_GYM_GRADING", "warm")
    warm, warm_modes = _verdicts(scenario, kind)
    assert cold_modes == {"cold"} and warm_modes == {"warm"}
    assert len(warm) == 3 and warm == cold


@pytest.mark.parametrize("kind", ["oracle", "violator"])
def test_the_subprocess_tier_grades_warm_with_the_same_verdicts(kind, monkeypatch):
    """The weak tier has no namespaces, but its warm grader is the same server (same uid
    switch, rlimits and cgroup as its commands): warm there too, and the verdicts agree."""
    monkeypatch.setenv("DRIFT_GYM_GRADING", "cold")
    cold, cold_modes = _verdicts(SCENARIOS[2], kind, "subprocess")
    monkeypatch.setenv("DRIFT_GYM_GRADING", "warm")
    warm, warm_modes = _verdicts(SCENARIOS[2], kind, "subprocess")
    assert cold_modes == {"cold"} and warm_modes == {"warm"}
    assert len(warm) == 3 and warm == cold
