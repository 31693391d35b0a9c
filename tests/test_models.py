"""The litellm backend end to end against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from drift_gym.agents import ModelAgent
from drift_gym.env import CodingDriftEnv
from drift_gym.models import LiteLLMModel, ModelError, ResponseCache

from .conftest import drive
from .fake_openai import (
    INVALID_JSON,
    FakeOpenAI,
    error_reply,
    text_reply,
    tool_call_reply,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
FINISH = tool_call_reply("finish", {"message": "Done, tests pass.", "confidence": 0.7})


def _model(server, **kwargs):
    return LiteLLMModel(model="openai/fake-model", api_base=server.url, backoff_s=0.01,
                        **kwargs)


def _episode(model, steps=2):
    env = CodingDriftEnv(scenario="customer_records.privacy", condition="pressure:3",
                         max_steps=steps)
    try:
        _, infos = drive(env, ModelAgent(model), seed=0)
        return env, infos
    finally:
        env.close()


def test_a_full_episode_through_litellm_with_native_tool_calls():
    script = [tool_call_reply("read_file", {"path": "AGENTS.md"}),
              tool_call_reply("run", {"command": "ls"}), FINISH,
              tool_call_reply("list_files", {}), FINISH]
    with FakeOpenAI(script) as server:
        env, infos = _episode(_model(server))
    assert len(env.records) == 2 and infos[-1]["step_index"] == 2
    assert env.records[0].tool_calls == {"read_file": 1, "run": 1, "finish": 1}
    first, third = server.requests[0]["body"], server.requests[2]["body"]
    assert {t["function"]["name"] for t in first["tools"]} >= {"read_file", "finish"}
    assert first["messages"][0]["role"] == "system"
    assert "Data-protection rule" in first["messages"][0]["content"]
    tool_messages = [m for m in third["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_read_file", "call_run"]
    assert "masking helper" in tool_messages[0]["content"]
    assert server.requests[0]["auth"].startswith("Bearer ")
    fourth = server.requests[3]["body"]["messages"]
    assert fourth[-1]["role"] == "user" and "Request 2 of 2" in fourth[-1]["content"]
    assert all(m.get("tool_call_id") != "call_finish" or m["role"] == "tool" for m in fourth)


def test_rate_limits_and_server_errors_are_retried():
    script = [error_reply(429, "slow down"), error_reply(503, "busy"), INVALID_JSON, FINISH]
    with FakeOpenAI(script) as server:
        model = _model(server)
        env, _ = _episode(model, steps=1)
    assert env.records[0].hidden_tests is not None
    assert len(server.requests) == 4
    assert model.usage.calls == 1 and model.usage.prompt_tokens == 11


def test_auth_errors_fail_fast_and_exhausted_retries_give_up():
    hello = [{"role": "user", "content": "hi"}]
    with FakeOpenAI([error_reply(401, "invalid api key")]) as server, \
            pytest.raises(ModelError) as exc:
        _model(server).complete(hello, tools=None, seed=0, step=0)
    assert exc.value.fatal and "AuthenticationError" in str(exc.value)
    assert len(server.requests) == 1
    with FakeOpenAI(default=error_reply(500, "down")) as server, \
            pytest.raises(ModelError) as exc:
        _model(server, max_retries=2).complete(hello, tools=None, seed=0, step=0)
    assert not exc.value.fatal and "gave up after 3 attempts" in str(exc.value)
    assert len(server.requests) == 3


def test_empty_content_and_text_tool_calls_without_native_tools():
    calls = '<tool_call>{"name": "finish", "arguments": {"message": "ok"}}</tool_call>'
    with FakeOpenAI([text_reply(""), text_reply("thinking..." + calls)]) as server:
        env, infos = _episode(_model(server, native_tools=False), steps=1)
    assert "tools" not in server.requests[0]["body"]
    assert "<tool_call>" in server.requests[0]["body"]["messages"][0]["content"]
    second = server.requests[1]["body"]["messages"]
    assert "no tool call found" in second[-1]["content"]
    assert len(env.records) == 1


def test_cache_key_covers_tools_and_generation_parameters(tmp_path):
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0}
    keys = {ResponseCache.key(base), ResponseCache.key({**base, "tools": [{"a": 1}]}),
            ResponseCache.key({**base, "tool_choice": "auto"}),
            ResponseCache.key({**base, "temperature": 1}), ResponseCache.key({**base, "step": 2})}
    assert len(keys) == 5


def _eval(server, out, *extra):
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, "-m", "drift_gym.cli", "eval", "--agent", "litellm:openai/fake-model",
         "--api-base", server.url, "--scenarios", "customer_records.utility", "--conditions",
         "baseline", "--max-steps", "1", "--out", str(out), "--json", *extra],
        capture_output=True, text=True, env=env, timeout=300)


def test_cli_rerun_with_the_cache_makes_no_http_calls(tmp_path):
    cache = tmp_path / "cache"
    script = [tool_call_reply("list_files", {}), FINISH]
    with FakeOpenAI(script) as server:
        first = _eval(server, tmp_path / "a", "--cache-dir", str(cache))
        assert first.returncode == 0, first.stderr
        made = len(server.requests)
        second = _eval(server, tmp_path / "b", "--cache-dir", str(cache))
        assert second.returncode == 0, second.stderr
        assert len(server.requests) == made == 2
    rows = json.loads(second.stdout)["rows"]
    assert rows[0]["cached_calls"] == 2 and rows[0]["model_calls"] == 0
    assert json.loads(first.stdout)["rows"][0]["prompt_tokens"] == 22


def test_cli_stops_at_once_on_a_401_with_one_clear_line(tmp_path):
    with FakeOpenAI(default=error_reply(401, "invalid api key")) as server:
        done = _eval(server, tmp_path / "run", "--no-cache")
        assert len(server.requests) == 1
    assert done.returncode == 2
    assert "AuthenticationError" in done.stderr and "Traceback" not in done.stderr


ODD = [{"role": "user", "content": "read caf\udcff.txt, then \ud800"}]


def test_lone_surrogates_go_out_as_escapes_with_and_without_the_cache(tmp_path):
    cache = ResponseCache(tmp_path / "cache")
    with FakeOpenAI(default=text_reply("seen caf\udcff.txt")) as server:
        uncached = _model(server).complete(ODD, tools=None, seed=0, step=0)
        first = _model(server, cache=cache).complete(ODD, tools=None, seed=0, step=0)
        again = _model(server, cache=cache).complete(ODD, tools=None, seed=0, step=0)
        assert len(server.requests) == 2, "no request failed to encode and was retried"
    for request in server.requests:
        assert request["body"]["messages"][0]["content"] == "read caf\\xff.txt, then \\ud800"
    assert not uncached.cached and not first.cached and again.cached
    assert again.content == first.content == uncached.content == "seen caf\udcff.txt"
    (entry,) = (tmp_path / "cache").glob("*/*.json")
    assert entry.read_bytes().isascii()
    assert ResponseCache.key({"m": "\udcff"}) != ResponseCache.key({"m": "\\xff"})


def test_cli_survives_a_reply_naming_a_file_that_is_not_utf8(tmp_path):
    """A model that echoes a non-UTF-8 file name back (JSON ``\\udcff``) puts a lone
    surrogate into the conversation; the next request must still be keyed and sent."""
    script = [tool_call_reply("read_file", {"path": "caf\udcff.txt"},
                              content="Opening caf\udcff.txt"),
              tool_call_reply("list_files", {}), FINISH]
    for extra in (["--no-cache"], ["--cache-dir", str(tmp_path / "cache")]):
        with FakeOpenAI(list(script)) as server:
            done = _eval(server, tmp_path / f"run{len(extra)}", *extra)
            assert done.returncode == 0, done.stderr
            assert len(server.requests) == 3
        said = [m["content"] for m in server.requests[1]["body"]["messages"]
                if m["role"] == "assistant"]
        assert said == ["Opening caf\\xff.txt"]


def test_a_cache_that_cannot_be_written_is_skipped_with_one_warning(tmp_path):
    (tmp_path / "afile").write_text("in the way")
    hello = [{"role": "user", "content": "hi"}]
    with FakeOpenAI(default=text_reply("hello")) as server:
        model = _model(server, cache=ResponseCache(tmp_path / "afile" / "cache"))
        with pytest.warns(RuntimeWarning, match="cannot be written") as caught:
            replies = [model.complete(hello, tools=None, seed=0, step=0) for _ in range(2)]
        assert len(server.requests) == 2
    assert len(caught) == 1 and [r.content for r in replies] == ["hello", "hello"]
    assert (tmp_path / "afile").read_text() == "in the way"
