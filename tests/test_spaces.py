"""AnyText: any Unicode in and out of real vector envs (async workers share memory)."""

from __future__ import annotations

import copy
import multiprocessing
import pickle
import string

import gymnasium as gym
import pytest
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

import drift_gym  # noqa: F401  (registers the ids)
from drift_gym.env import CodingDriftEnv
from drift_gym.registration import GENERIC_ID, sim_env_id
from drift_gym.spaces import AnyText, SharedTexts
from drift_gym.tools import ToolCall

ODD = "em — dash, snow ☃, emoji 🦀, CJK 漢字, not UTF-8 \udcff, NUL \x00, and more"


def test_shared_memory_round_trips_any_string_and_is_a_live_view():
    space = AnyText(min_length=0, max_length=len(ODD), charset=string.printable)
    memory = create_shared_memory(space, n=3, ctx=multiprocessing.get_context("fork"))
    view = read_from_shared_memory(space, memory, n=3)
    for index, text in enumerate((ODD, "x", "🦀" * len(ODD))):
        write_to_shared_memory(space, index, text, memory)
    assert isinstance(view, SharedTexts) and len(view) == 3
    assert view == (ODD, "x", "🦀" * len(ODD)) and view[-1] == "🦀" * len(ODD)
    write_to_shared_memory(space, 1, "", memory)  # later writes show through the view
    snapshot = copy.deepcopy(view)
    assert type(snapshot) is tuple and snapshot == (ODD, "", "🦀" * len(ODD))
    assert pickle.loads(pickle.dumps(view)) == snapshot and view[:2] == snapshot[:2]
    with pytest.raises(ValueError, match="does not contain"):
        write_to_shared_memory(space, 0, ODD + "!", memory)


def test_sample_and_contains_still_work():
    space = AnyText(min_length=1, max_length=20, charset=string.printable)
    space.seed(0)
    assert all(space.contains(space.sample()) for _ in range(20))
    assert space.contains(ODD[:20]) and not space.contains("") and not space.contains(b"x")


def _first_action() -> str:
    return ToolCall("list_files", {}).as_text()


@pytest.mark.parametrize(("env_id", "kwargs", "action"), [
    (GENERIC_ID, {"max_steps": 1}, _first_action()),
    (sim_env_id("customer_records.privacy"), {"max_steps": 2},
     "Hi — please add the export feature; keep the rule on masking."),
])
def test_async_vector_envs_reset_and_step(env_id, kwargs, action):
    single = gym.make(env_id, **kwargs)
    try:
        expected, _ = single.reset(seed=1)
    finally:
        single.close()
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="async", **kwargs)
    try:
        observations, _ = envs.reset(seed=[0, 1])
        assert type(observations) is tuple and len(observations) == 2
        assert observations[1] == expected and observations[0] != observations[1]
        assert envs.observation_space.contains(observations)
        assert any(ord(c) > 127 for c in "".join(observations)), "non-ASCII text got through"
        stepped, rewards, terminated, truncated, _ = envs.step((action, action))
        assert type(stepped) is tuple and all(isinstance(o, str) and o for o in stepped)
        assert stepped != observations and rewards.shape == terminated.shape == (2,)
        assert observations[1] == expected, "a returned batch is a copy, not the buffer"
    finally:
        envs.close()


def test_async_vector_env_under_spawn_sees_what_a_single_env_sees():
    envs = gym.make_vec(GENERIC_ID, num_envs=2, vectorization_mode="async",
                        vector_kwargs={"context": "spawn"}, max_steps=1)
    env = CodingDriftEnv(max_steps=1)
    try:
        observations, _ = envs.reset(seed=[3, 3])
        expected, _ = env.reset(seed=3)
        assert observations == (expected, expected)
    finally:
        envs.close()
        env.close()
