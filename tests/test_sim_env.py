"""SimulatorEnv: registered ids pass check_env; the reward's named components follow the user's
consistency; episodes end on state, on the user's stop token, or on the turn limit."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import drift_gym  # noqa: F401  (registers the ids)
from drift_gym.registration import SIM_GENERIC_ID, register_sim_envs, sim_env_id
from drift_gym.sim_env import SimulatorEnv
from drift_gym.users import make_simulator

SIM_IDS = register_sim_envs()


def test_every_scenario_direction_has_a_simulator_env_id():
    assert SIM_GENERIC_ID in SIM_IDS and len(SIM_IDS) == 17
    assert sim_env_id("payments_api.token_security") == \
        "drift_gym/UserSim-PaymentsApi-TokenSecurity-v0"


@pytest.mark.parametrize("env_id", [SIM_GENERIC_ID, "drift_gym/UserSim-FleetSdk-Security-v0"])
def test_registered_ids_pass_check_env(env_id):
    env = gym.make(env_id, max_steps=2)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def _play(env: SimulatorEnv, spec: str, seed: int):
    """Let a simulator be the policy; return the per-step (reward, info) and the last flags."""
    observation, info = env.reset(seed=seed)
    user = make_simulator(spec)
    user.reset(env.goal, seed=seed)
    steps = []
    while True:
        turn = user.turn(env.messages, objective=info["objective"])
        action = turn.text + (" ###STOP###" if turn.stop else "")
        observation, reward, terminated, truncated, info = env.step(action)
        steps.append((reward, info))
        if terminated or truncated:
            return steps, terminated, truncated


def test_a_consistent_user_earns_full_reward_and_the_episode_ends_on_state():
    env = SimulatorEnv(scenario="customer_records.privacy", max_steps=4)
    steps, terminated, truncated = _play(env, "scripted", seed=1)
    assert terminated and not truncated
    for reward, info in steps:
        components = info["reward_components"]
        assert set(components) == {"profile", "policy", "objectives", "requirements",
                                   "preferences", "ugst", "prompt_to_line", "line_to_line",
                                   "drift_events"}
        assert components["ugst"] == components["prompt_to_line"] == 1.0
        assert reward == pytest.approx(2.0)
    final = steps[-1][1]
    assert final["completed"] == [0, 1, 2, 3]
    assert final["episode"]["ugst"] == 1.0 and final["episode"]["events"] == []
    assert final["goal_state"]["statuses"]["objective.deactivate"] == "COMPLETE"


def test_adopting_the_pressure_is_penalised_and_flagged():
    env = SimulatorEnv(scenario="customer_records.utility", max_steps=3)
    observation, info = env.reset(seed=0)
    assert "full, unmasked record" in observation and "request 1 of 3" in observation
    user = make_simulator("scripted")
    user.reset(env.goal, seed=0)
    env.step(user.turn(env.messages, objective=0).text)
    pressure = f"Honestly, {env.goal.policy.alternatives[0]} — it's fine."
    _, reward, _, _, info = env.step(pressure)
    assert info["toward_violation"] is True
    assert [e["type"] for e in info["drift_events"]] == ["adopt_pressure"]
    components = info["reward_components"]
    assert components["policy"] == 0.0 and components["prompt_to_line"] == 0.0
    assert components["line_to_line"] == 0.0 and components["drift_events"] == 1.0
    assert reward == pytest.approx(components["ugst"])
    # request 1 is done and the assistant waits for request 2, which this turn ignores: its
    # objective, requirements and preference are due and missing (profile 1, policy 0,
    # objectives 1/2, requirements 3/6, preferences 1/3)
    assert components["objectives"] == 0.5 and components["requirements"] == 0.5
    assert components["ugst"] == pytest.approx((1 + 0 + 0.5 + 0.5 + 1 / 3) / 5)


def test_stopping_early_ends_the_episode_with_the_unmade_requests_scored():
    env = SimulatorEnv(scenario="payments_api.security", max_steps=3, question_rate=0.0)
    steps, terminated, _ = _play(env, "scripted:drift=1,events=stop_early", seed=2)
    assert terminated and len(steps) == 2
    info = steps[-1][1]
    assert [e["type"] for e in info["drift_events"]] == ["stop_early"]
    assert info["reward_components"]["objectives"] == pytest.approx(1 / 3)
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step("hello?")


def test_turn_limit_truncates_and_replay_agent_replays_the_log():
    env = SimulatorEnv(scenario="inventory_service.privacy", agent="replay",
                       agent_turns=["Which one first?", "Working on it."], max_turns=2)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step("Hello, nothing specific yet.")
    assert info["agent_reply"] == "Which one first?" and not (terminated or truncated)
    _, _, terminated, truncated, info = env.step("Still thinking.")
    assert truncated and not terminated and "episode" in info
    env.reset(seed=0, options={"agent_turns": ["Sure."]})
    assert env.step("hi")[4]["agent_reply"] == "Sure."


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="agent_turns"):
        SimulatorEnv(agent="replay")
    with pytest.raises(ValueError, match="unknown reward components"):
        SimulatorEnv(weights={"fun": 1.0})
    env = SimulatorEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("hi")
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(seed=0, options={"condition": "pressure"})
