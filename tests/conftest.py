"""Shared fixtures: real sandboxes (both tiers where bubblewrap exists), real envs."""

from __future__ import annotations

import os

import pytest

from drift_gym.sandbox.local import LocalSandbox, bwrap_available

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
TIERS = ["bwrap", "subprocess"] if bwrap_available() else ["subprocess"]


@pytest.fixture(params=TIERS)
def sandbox(request):
    box = LocalSandbox(tier=request.param)
    yield box
    box.close()


def drive(env, agent, *, seed):
    """Run a whole episode with a scripted agent; return (observations, infos)."""
    observation, info = env.reset(seed=seed)
    agent.reset(env)
    observations, infos = [observation], [info]
    while True:
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        observations.append(observation)
        infos.append(info)
        if terminated or truncated:
            return observations, infos


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny random Qwen2 checkpoint with a locally trained tokenizer (built once)."""
    pytest.importorskip("transformers")
    from drift_gym.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", vocab_size=512,
                           hidden_size=32)
