"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions API, with scripted
replies (tool calls, text, 429s, 401s, invalid JSON, empty content). Tests drive drift_gym's
litellm backend against it end to end."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tool_call_reply(name: str, arguments: dict[str, Any], content: str = "") -> tuple[int, Any]:
    return 200, {"message": {"role": "assistant", "content": content or None, "tool_calls": [
        {"id": f"call_{name}", "type": "function",
         "function": {"name": name, "arguments": json.dumps(arguments)}}]}}


def text_reply(content: str) -> tuple[int, Any]:
    return 200, {"message": {"role": "assistant", "content": content}}


def error_reply(status: int, message: str) -> tuple[int, Any]:
    return status, {"error": {"message": message, "type": "error", "code": status}}


INVALID_JSON = (200, "{not json")


class FakeOpenAI:
    """Replies come from `script` in order; then `default` forever. Requests are recorded."""

    def __init__(self, script: list[tuple[int, Any]] | None = None,
                 default: tuple[int, Any] | None = None) -> None:
        self.script = deque(script or [])
        self.default = default or tool_call_reply("finish", {"message": "done"})
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner.lock:
                    owner.requests.append({"path": self.path, "body": body,
                                           "auth": self.headers.get("Authorization")})
                    status, payload = owner.script.popleft() if owner.script else owner.default
                if isinstance(payload, str):
                    data = payload.encode()
                elif status == 200:
                    data = json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                        "model": body.get("model", "fake"),
                        "choices": [{"index": 0, "finish_reason": "stop", **payload}],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7,
                                  "total_tokens": 18},
                    }).encode()
                else:
                    data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
