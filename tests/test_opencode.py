"""OpenCode itself, the pinned binary `make opencode` installs (never mocked), plays episodes
in the episode's sandbox. Its model is a litellm model behind drift_gym's proxy (which streams
to OpenCode over the Unix socket bound into the sandbox), and that model talks to a scripted
OpenAI-compatible server, a real HTTP server on the host's 127.0.0.1, whose replies are the
reference solutions of the scenario's first requests as OpenCode's own tool calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drift_gym.config import EpisodeConfig
from drift_gym.env import CodingDriftEnv
from drift_gym.evaluation import Job, run_episode
from drift_gym.harnesses.models import reference_turns
from drift_gym.harnesses.opencode import OpenCode
from drift_gym.models import ModelError
from drift_gym.spec import Condition
from drift_gym.tools import ToolCall
from tests.conftest import DOCKER_MISSING, TIERS
from tests.fake_openai import FakeOpenAI, error_reply, text_reply, tool_call_reply

OPENCODE_MISSING = OpenCode().unavailable()
pytestmark = pytest.mark.skipif(OPENCODE_MISSING is not None, reason=str(OPENCODE_MISSING))

SCENARIO = "inventory_service.privacy"
CONDITION = "pressure"
SEED = 0
STEPS = 2
TOKENS = (11, 7)
"""Prompt and completion tokens the scripted server reports for every reply."""
ISOLATED = [t for t in TIERS if t != "subprocess"]
"""The tiers with no network (the subprocess tier is weak by design, and named so)."""
PLAYED = [TIERS[0], "docker"]
"""The best host tier here (bubblewrap where it works) and Docker (skips without an engine):
OpenCode runs are slow enough that the weak tier, when bubblewrap works, is left out."""


def _tier(tier: str) -> str:
    if tier == "docker" and DOCKER_MISSING:
        pytest.skip(DOCKER_MISSING)
    return tier


def _reply(call: ToolCall, tag: str) -> tuple[int, Any]:
    """A scripted tool-call reply with an id of its own (OpenCode keys tool parts by id)."""
    status, payload = tool_call_reply(call.name, call.arguments)
    payload["message"]["tool_calls"][0]["id"] = f"call_{tag}"
    return status, payload


def reference_script(*, compliant: bool) -> list[tuple[list[ToolCall], str]]:
    """(OpenCode tool calls, finish message) of each of the first `STEPS` requests: the
    reference solution for the protected value, or for the pressure value."""
    env = CodingDriftEnv(scenario=SCENARIO, condition=CONDITION, sandbox="subprocess",
                         max_steps=STEPS)
    try:
        env.reset(seed=SEED)
        assert env.repo is not None
        spec = env.scenario.spec
        value = spec.protected_value if compliant else spec.pressure_value
        return [reference_turns(env.repo.step(step, value), OpenCode())
                for step in range(STEPS)]
    finally:
        env.close()


def play(fake: FakeOpenAI, tier: str, cache: Path, *, steps: int = STEPS) -> dict[str, Any]:
    """One episode of ``opencode:litellm:...`` against `fake`, as ``drift-gym eval`` runs it."""
    config = EpisodeConfig(scenario=SCENARIO, condition=Condition.parse(CONDITION),
                           sandbox=tier, max_steps=steps,
                           model_options={"api_base": fake.url, "cache_dir": cache})
    return run_episode(Job(config, SEED, "opencode:litellm:openai/scripted"))


def scripted(script: list[tuple[list[ToolCall], str]]) -> list[tuple[int, Any]]:
    return [reply for step, (calls, finish) in enumerate(script)
            for reply in [*(_reply(c, f"{step}_{i}") for i, c in enumerate(calls)),
                          text_reply(finish)]]


@pytest.mark.parametrize("tier", PLAYED)
def test_opencode_plays_the_compliant_references_and_they_pass(tier, tmp_path):
    script = reference_script(compliant=True)
    with FakeOpenAI(scripted(script), default=text_reply("(script exhausted)")) as fake:
        episode = play(fake, _tier(tier), tmp_path / "cache")
    assert episode.status == "completed", episode.failure
    assert episode.isolation == ("subprocess-weak" if tier == "subprocess" else tier)
    assert (episode.graded_steps, episode.tests_passed, episode.violations) == (
        STEPS, STEPS, 0)
    # every model call reached the scripted server through the proxy, all with OpenCode's
    # tools (a fixed --title spares the title request of a new session)
    replies = [len(calls) + 1 for calls, _ in script]
    assert len(fake.requests) == sum(replies)
    assert all(r["body"].get("tools") for r in fake.requests)
    # the second request continues the first one's session: its context has grown
    first, second = fake.requests[replies[0] - 1], fake.requests[replies[0]]
    assert len(second["body"]["messages"]) > len(first["body"]["messages"])
    sessions = set()
    for record, (calls, finish), count in zip(episode.steps, script, replies, strict=True):
        assert record.components["task"] == 1.0 and record.components["violation"] == 0.0
        assert record.violation == "compliant" and record.infra_error is None
        harness = record.harness
        assert harness is not None and harness["exit_code"] == 0 and harness["error"] is None
        assert harness["final_text"] == record.finish_message == finish
        # OpenCode's own tool events are the step's transcript ...
        events = harness["tool_events"]
        assert [e["tool"] for e in events] == [c.name for c in calls]
        assert [e["input"] for e in events] == [c.arguments for c in calls]
        assert {e["status"] for e in events} == {"completed"}
        # its bash ran the visible tests in the sandbox
        assert "[100%]" in next(e["output"] for e in events if e["tool"] == "bash")
        # ... and the proxy's calls and tokens are in the record
        proxy = harness["proxy"]
        assert (proxy["calls"], proxy["prompt_tokens"], proxy["completion_tokens"]) == (
            count, TOKENS[0] * count, TOKENS[1] * count)
        assert all(c["stream"] for c in proxy["transcript"])
        # nothing of OpenCode's (config, session data) is in the agent's diff
        edited = {c.arguments["filePath"] for c in calls if c.name in ("edit", "write")}
        assert record.diff_stats["files"] == len(edited)
        sessions.add(harness["session"])
    assert len(sessions) == 1 and None not in sessions


def test_opencode_playing_the_violating_references_is_flagged(tmp_path):
    tier = TIERS[0]
    with FakeOpenAI(scripted(reference_script(compliant=False)),
                    default=text_reply("(script exhausted)")) as fake:
        episode = play(fake, tier, tmp_path / "cache")
    assert episode.status == "completed", episode.failure
    assert [r.violation for r in episode.steps] == ["violated"] * STEPS
    assert all(r.components["violation"] == -1.0 for r in episode.steps)
    assert all(r.harness and r.harness["tool_events"] for r in episode.steps)


PROBE = ("python -c \"import socket; socket.create_connection(('127.0.0.1', {port}), "
         "timeout=5); print('REACHED')\" 2>&1 | tail -n 1")


@pytest.mark.parametrize("tier", ISOLATED)
def test_opencode_in_the_sandbox_reaches_the_host_loopback_only_through_the_proxy(
        tier, tmp_path):
    """OpenCode's bash tool tries the scripted server's own port on 127.0.0.1: refused,
    while OpenCode's model calls reach that same server through the proxy."""
    with FakeOpenAI(default=text_reply("done")) as fake:
        port = int(fake.url.rsplit(":", 1)[1].split("/")[0])
        probe = ToolCall("bash", {"command": PROBE.format(port=port),
                                  "description": "Reach the host"})
        fake.script.append(_reply(probe, "probe"))
        episode = play(fake, _tier(tier), tmp_path / "cache", steps=1)
    harness = episode.steps[0].harness
    assert harness is not None and harness["exit_code"] == 0, harness
    (event,) = harness["tool_events"]
    assert event["tool"] == "bash" and "REACHED" not in event["output"]
    assert "Connection refused" in event["output"] or "unreachable" in event["output"]
    # the two model calls of the request went through the proxy to the host server
    assert harness["proxy"]["calls"] == len(fake.requests) == 2


def test_a_failing_model_endpoint_stops_the_run_as_an_infrastructure_error(tmp_path):
    """A fatal model error (a bad key) reaches OpenCode as a 400 from the proxy, and the
    episode stops with the model's own message, never a score."""
    with FakeOpenAI(default=error_reply(401, "bad key")) as fake, \
            pytest.raises(ModelError, match="bad key") as caught:
        play(fake, TIERS[0], tmp_path / "cache", steps=1)
    assert caught.value.fatal
    assert len(fake.requests) == 1  # not retried: a fatal error is final
