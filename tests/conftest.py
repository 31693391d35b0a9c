"""Shared fixtures: real sandboxes (both tiers where bubblewrap exists), real envs."""

from __future__ import annotations

import os

import pytest

from drift_gym.sandbox import open_sandbox
from drift_gym.sandbox.docker import unavailable as docker_unavailable
from drift_gym.sandbox.local import LocalSandbox, bwrap_available

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
TIERS = (["bwrap", "subprocess"] if bwrap_available() else ["subprocess"]) + ["docker"]
DOCKER_MISSING = docker_unavailable()
"""Why the docker backend cannot run here (it names scripts/docker-engine.sh), or None."""
needs_docker = pytest.mark.skipif(DOCKER_MISSING is not None, reason=str(DOCKER_MISSING))


@pytest.fixture(params=TIERS)
def sandbox(request):
    if request.param == "docker":
        if DOCKER_MISSING:
            pytest.skip(DOCKER_MISSING)
        box = open_sandbox("docker")
    else:
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
    from drift_gym.models.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", vocab_size=512,
                           hidden_size=32)


# The red-team summary line, ``red-team: attacks N, held M`` (issue 12). These hooks live in
# the root conftest so that the pytest-xdist controller, which sees every report, has them.
_ATTACKS_PLAYED: dict[str, bool] = {}


def pytest_runtest_logreport(report):
    if "test_attack_holds[" not in report.nodeid:
        return
    if report.when == "call":
        _ATTACKS_PLAYED[report.nodeid] = report.passed
    elif report.failed:
        _ATTACKS_PLAYED[report.nodeid] = False


def pytest_terminal_summary(terminalreporter):
    if _ATTACKS_PLAYED:
        held = sum(_ATTACKS_PLAYED.values())
        terminalreporter.write_line(f"red-team: attacks {len(_ATTACKS_PLAYED)}, held {held}")
