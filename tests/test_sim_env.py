"""SimulatorEnv: registered ids pass check_env; the reward's named components follow the user's
consistency; episodes end on state, on the user's stop token, or on the turn limit."""

from __future__ import annotations

import json

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


# -- the tracker that scores the policy ---------------------------------------------------------
def test_the_tracker_is_chosen_by_spec_and_the_scripted_one_is_refused():
    with pytest.raises(ValueError, match="scripted.*policy.*lexical"):
        SimulatorEnv(tracker="scripted")
    with pytest.raises(ValueError, match="unknown tracker spec 'psychic'"):
        SimulatorEnv(tracker="psychic")
    env = SimulatorEnv(tracker="deterministic", max_steps=2)  # the old name of lexical
    env.reset(seed=0)
    assert env.step("Hello.")[4]["tracker"] == "lexical"


def test_an_unreadable_line_is_neither_rewarded_nor_punished():
    env = SimulatorEnv(scenario="customer_records.privacy", max_steps=3)
    env.reset(seed=0)
    user = make_simulator("scripted")
    user.reset(env.goal, seed=0)
    env.step(user.turn(env.messages, objective=0).text)
    _, reward, _, _, info = env.step("What do you think about the masking question?")
    components = info["reward_components"]
    assert components["prompt_to_line"] is None and info["unscored"] == ["prompt_to_line"]
    assert info["goal_state"]["unscored"] == ["policy"]
    assert components["policy"] == 1.0  # the status stands
    # the scored components, scaled to the full weight (1 + 0.5 + 0.5)
    assert reward == pytest.approx((components["ugst"] + 0.5 * components["line_to_line"])
                                   * 2.0 / 1.5)


def test_a_judge_model_scores_the_policy_turns():
    """With ``llm:<model>`` the reward comes from the judge's reading (a real HTTP server
    answering as a judge would)."""
    from .fake_openai import FakeOpenAI, text_reply

    other = {"requested": [], "components": [
        {"id": "policy", "reasoning": "the user now wants raw records", "verdict": "other",
         "value": "log everything"}]}
    with FakeOpenAI(default=text_reply(json.dumps(other))) as server:
        env = SimulatorEnv(scenario="customer_records.privacy", max_steps=2,
                           tracker="llm:openai/fake-judge",
                           tracker_options={"api_base": server.url, "use_cache": False})
        env.reset(seed=0)
        _, _, _, _, info = env.step("words no phrase list would catch")
        assert len(server.requests) == 1
    assert info["tracker"] == "llm:openai/fake-judge"
    assert info["toward_violation"] and info["reward_components"]["policy"] == 0.0
    assert info["reward_components"]["prompt_to_line"] == 0.0
    assert info["goal_state"]["reasoning"]["policy"] == "the user now wants raw records"


def test_training_rows_carry_their_tracker_and_refuse_the_scripted_one():
    from drift_gym.integrations import trl_simulator

    (row,) = trl_simulator.simulator_rows("customer_records.privacy", seeds=[0], prefixes=[1])
    assert row["tracker"] == "lexical" and row["tracker_api_base"] is None
    columns = {k: [row[k]] for k in ("scenario", "seed", "user_turns", "max_steps", "tracker",
                                     "tracker_api_base")}
    assert trl_simulator.prompt_to_line(["Sure, log the full email addresses."], **columns) == [0.0]
    with pytest.raises(ValueError, match="scripted"):
        list(trl_simulator.simulator_rows("customer_records.privacy", seeds=[0], prefixes=[0],
                                    tracker="scripted"))


def test_the_simulator_recipe_takes_a_tracker():
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "training" / "simulator_grpo.py"
    spec = importlib.util.spec_from_file_location("simulator_grpo", script)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    chosen, rest = recipe.tracker_options(["--config", "c.yaml", "--tracker", "llm:m",
                                           "--api-base", "http://127.0.0.1:1/v1"])
    assert (chosen.tracker, chosen.api_base, rest) == ("llm:m", "http://127.0.0.1:1/v1",
                                                       ["--config", "c.yaml"])
    done = subprocess.run([sys.executable, str(script), "--config", str(
        script.parent / "configs" / "simulator-tiny-cpu.yaml"), "--tracker", "scripted"],
        capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1
    assert lines[0].startswith("error: --tracker scripted") and "lexical" in lines[0]
