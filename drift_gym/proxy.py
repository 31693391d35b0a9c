"""An OpenAI-compatible ``/v1/chat/completions`` server in front of drift_gym's model layer.

Why our own proxy rather than pointing a harness at the provider: every call an external
coding harness (OpenCode, later others) makes must go through the same response cache,
retries, fatal-error rules and token/cost accounting as the built-in agents, and must be
recorded in the episode's transcript. The proxy is the one place that sees all of them.

It serves one `ChatModel` on a Unix socket (bind-mounted into the sandbox, so the harness
needs no network) or on 127.0.0.1. Streaming requests get Server-Sent Events with text and
tool-call deltas and a final usage chunk; others get one ``chat.completion`` object.
A fatal model error (auth, bad request) is answered with 400 and kept in `error`, so the
harness stops asking and its caller can stop the run; other failures are answered with 502.
"""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .models import ChatModel, ModelError, Reply

BUDGET_TEXT = "(drift_gym: this request's turn budget is spent; stopping here.)"
"""What the proxy answers, without tool calls, once a request's model-call budget is spent:
the harness ends its run and the step is graded as it stands."""


@dataclass
class ProxyCall:
    """One chat completion the proxy served (the transcript entry)."""

    step: int
    messages: int
    tools: int
    stream: bool
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str | None = None
    budget_spent: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with list-of-parts content flattened to text (what every backend takes,
    and what keeps cache keys independent of how a harness chose to spell a text)."""
    flat = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if isinstance(p, dict)
                     and p.get("type") == "text"]
            message = {**message, "content": "\n".join(texts)}
        flat.append(message)
    return flat


def _wire_calls(reply: Reply, call_index: int) -> list[dict[str, Any]]:
    ids = list(reply.tool_call_ids) or [f"call_{call_index}_{i}"
                                        for i in range(len(reply.tool_calls))]
    return [{"id": i, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for i, c in zip(ids, reply.tool_calls, strict=True)]


def completion_object(reply: Reply, model: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """A non-streaming ``chat.completion``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if calls:
        message["tool_calls"] = calls
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": _usage(reply)}


def _usage(reply: Reply) -> dict[str, int]:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens}


def stream_chunks(reply: Reply, model: str, calls: list[dict[str, Any]],
                  include_usage: bool) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of one reply, in order: role and text, one
    delta per tool call (whole arguments), the finish reason, then usage when asked."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": reply.content or ""})]
    chunks += [chunk({"tool_calls": [{"index": i, **call}]}) for i, call in enumerate(calls)]
    chunks.append(chunk({}, "tool_calls" if calls else "stop"))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(reply)})
    return chunks


class ModelProxy:
    """Serves `model` over the OpenAI chat-completions API until `close()`.

    The harness driving an episode sets `step` before each request (it is part of every
    cache key, as for the built-in agents) and `budget` (model calls allowed for it);
    `calls` is the transcript, `error` the first model failure seen.
    """

    def __init__(self, model: ChatModel, *, socket_path: Path | None = None,
                 seed: int | None = None, budget: int | None = None) -> None:
        self.model = model
        self.seed = seed
        self.step = 0
        self.budget = budget
        self.calls: list[ProxyCall] = []
        self.error: ModelError | None = None
        self._lock = threading.Lock()
        self._step_calls = 0
        handler = _handler(self)
        if socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                socket_path.unlink()
            self._server: socketserver.BaseServer = _UnixHTTPServer(str(socket_path), handler)
            socket_path.chmod(0o777)  # the sandbox's own uid connects to it
        else:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.socket_path = socket_path
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="drift-gym-proxy")
        self._thread.start()

    @property
    def url(self) -> str:
        """The TCP base URL (only when not serving on a Unix socket)."""
        if self.socket_path is not None:
            raise RuntimeError("this proxy serves a Unix socket, not a TCP port")
        host, port = self._server.server_address[:2]  # type: ignore[index, str-unpack]
        return f"http://{host}:{port}/v1"

    def begin_step(self, step: int) -> None:
        """Start counting calls (and the budget) for request `step`."""
        with self._lock:
            self.step = step
            self._step_calls = 0

    def step_calls(self, step: int) -> list[ProxyCall]:
        return [c for c in self.calls if c.step == step]

    def answer(self, body: dict[str, Any]) -> tuple[Reply | None, ProxyCall]:
        """The model's reply to one request body, recorded (None after a model failure)."""
        messages = plain_messages(list(body.get("messages") or []))
        tools = body.get("tools") or None
        with self._lock:
            index = self._step_calls
            self._step_calls += 1
            step = self.step
            spent = self.budget is not None and tools is not None and index >= self.budget
        record = ProxyCall(step=step, messages=len(messages), tools=len(tools or ()),
                           stream=bool(body.get("stream")), budget_spent=spent)
        reply: Reply | None
        if spent:
            reply = Reply(content=BUDGET_TEXT)
        else:
            try:
                reply = self.model.complete(messages, tools=tools, seed=self.seed,
                                            step=step * 1000 + index)
            except ModelError as exc:
                record.error = str(exc)
                with self._lock:
                    if self.error is None or (exc.fatal and not self.error.fatal):
                        self.error = exc
                reply = None
        if reply is not None:
            record.content = reply.content
            record.tool_calls = [{"name": c.name, "arguments": c.arguments}
                                 for c in reply.tool_calls]
            record.prompt_tokens, record.completion_tokens = (reply.prompt_tokens,
                                                              reply.completion_tokens)
            record.cached = reply.cached
        with self._lock:
            self.calls.append(record)
        return reply, record

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()

    def __enter__(self) -> ModelProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _handler(proxy: ModelProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def address_string(self) -> str:  # a Unix socket's peer has no address
            return "proxy-client"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.rstrip("/").endswith("/models"):
                name = proxy.model.name
                self._json(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            else:
                self._json(404, _error("not found: only /v1/chat/completions is served"))

        def do_POST(self) -> None:  # noqa: N802
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(404, _error("not found: only /v1/chat/completions is served"))
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
            except (ValueError, OSError):
                self._json(400, _error("the request body is not JSON"))
                return
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                self._json(400, _error("the request needs a `messages` list"))
                return
            reply, record = proxy.answer(body)
            if reply is None:
                fatal = proxy.error is not None and proxy.error.fatal
                self._json(400 if fatal else 502, _error(record.error or "model failure"))
                return
            model = str(body.get("model") or proxy.model.name)
            calls = _wire_calls(reply, len(proxy.calls))
            if body.get("stream"):
                include = bool((body.get("stream_options") or {}).get("include_usage"))
                self._sse(stream_chunks(reply, model, calls, include))
            else:
                self._json(200, completion_object(reply, model, calls))

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _sse(self, chunks: list[dict[str, Any]]) -> None:
            data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            encoded = data.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

    return Handler


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "drift_gym_proxy"}}

