"""The model proxy: a real HTTP server (TCP and Unix socket) in front of drift_gym's model
layer, here a litellm model talking to the scripted OpenAI server on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from drift_gym.models import parse_model_spec
from drift_gym.proxy import BUDGET_TEXT, ModelProxy
from tests.fake_openai import FakeOpenAI, error_reply, text_reply, tool_call_reply

TOOLS = [{"type": "function", "function": {"name": "write", "parameters": {
    "type": "object", "properties": {"filePath": {"type": "string"}}}}}]


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def _post(connection: http.client.HTTPConnection, body: dict) -> tuple[int, bytes]:
    connection.request("POST", "/v1/chat/completions", json.dumps(body),
                       {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def _model(fake: FakeOpenAI, tmp_path):
    return parse_model_spec("litellm:openai/scripted", api_base=fake.url,
                            cache_dir=tmp_path / "cache")


def test_streams_tool_calls_over_a_unix_socket_and_counts_tokens(tmp_path):
    with FakeOpenAI([tool_call_reply("write", {"filePath": "a.py"})]) as fake:
        model = _model(fake, tmp_path)
        with ModelProxy(model, socket_path=tmp_path / "proxy.sock", seed=3) as proxy:
            status, data = _post(UnixConnection(str(tmp_path / "proxy.sock")), {
                "model": "agent", "stream": True, "stream_options": {"include_usage": True},
                "tools": TOOLS, "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "make a.py"}]}]})
    assert status == 200
    events = [json.loads(line[6:]) for line in data.decode().splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    assert data.decode().rstrip().endswith("data: [DONE]")
    deltas = [c["choices"][0]["delta"] for c in events if c["choices"]]
    call = next(d["tool_calls"][0] for d in deltas if "tool_calls" in d)
    assert call["function"]["name"] == "write"
    assert json.loads(call["function"]["arguments"]) == {"filePath": "a.py"}
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1]["usage"] == {"prompt_tokens": 11, "completion_tokens": 7,
                                   "total_tokens": 18}
    # the model layer saw flattened text and the harness's tools; its accounting moved
    assert fake.requests[0]["body"]["messages"][-1]["content"] == "make a.py"
    assert fake.requests[0]["body"]["tools"] == TOOLS
    assert model.usage.calls == 1 and model.usage.prompt_tokens == 11
    assert proxy.calls[0].tool_calls == [{"name": "write", "arguments": {"filePath": "a.py"}}]


def test_non_streaming_cache_and_budget(tmp_path):
    with FakeOpenAI([text_reply("hello")]) as fake:
        model = _model(fake, tmp_path)
        with ModelProxy(model, budget=1) as proxy:
            host, port = proxy.url.split("//")[1].split("/")[0].split(":")
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                    "tools": TOOLS}
            status, data = _post(http.client.HTTPConnection(host, int(port)), body)
            assert status == 200
            assert json.loads(data)["choices"][0]["message"]["content"] == "hello"
            # a second call of the same request is over budget: text, no model call
            status, data = _post(http.client.HTTPConnection(host, int(port)), body)
            assert json.loads(data)["choices"][0]["message"]["content"] == BUDGET_TEXT
            proxy.begin_step(1)
            body["messages"][0]["content"] = "again"
            _post(http.client.HTTPConnection(host, int(port)), body)
    assert len(fake.requests) == 2  # the budget answer never reached the model
    assert [c.budget_spent for c in proxy.calls] == [False, True, False]
    assert [c.step for c in proxy.calls] == [0, 0, 1]


@pytest.mark.parametrize(("status", "fatal", "code"), [(401, True, 400)])
def test_fatal_model_error_is_kept_and_answered(tmp_path, status, fatal, code):
    with FakeOpenAI([error_reply(status, "bad key")]) as fake:
        model = _model(fake, tmp_path)
        with ModelProxy(model) as proxy:
            host, port = proxy.url.split("//")[1].split("/")[0].split(":")
            got, data = _post(http.client.HTTPConnection(host, int(port)),
                              {"messages": [{"role": "user", "content": "x"}]})
    assert got == code and "bad key" in json.loads(data)["error"]["message"]
    assert proxy.error is not None and proxy.error.fatal is fatal
