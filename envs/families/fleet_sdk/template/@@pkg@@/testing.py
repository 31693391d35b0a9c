"""Test helpers: a recording stand-in for a transport session (no network at all).

    session = FakeSession()
    session.respond("GET", "/units", {"data": [...]})
    depot = @@Legacy@@(session=session)
    ...
    assert session.calls[0].path.endswith("/units")

Routes match on the method and the end of the URL path (the longest matching suffix wins).
A route given several payloads answers them in order and then repeats the last one. A
request nothing matches gets a 404.
"""

from __future__ import annotations

import json as _json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .transport import Response


@dataclass
class RecordedCall:
    """One request as a client made it."""

    method: str
    url: str
    verify: Any
    timeout: float | None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


def _as_response(payload: Any, status: int, url: str) -> Response:
    if isinstance(payload, Response):
        return payload
    if isinstance(payload, bytes):
        return Response(status, payload, {"Content-Type": "application/octet-stream"}, url)
    if isinstance(payload, str):
        return Response(status, payload.encode("utf-8"), {"Content-Type": "text/plain"}, url)
    return Response(status, _json.dumps(payload).encode("utf-8"),
                    {"Content-Type": "application/json"}, url)


class FakeSession:
    """Records every request and answers from canned routes."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self._routes: dict[tuple[str, str], list[Any]] = {}

    def respond(self, method: str, path_suffix: str, *payloads: Any,
                status: int = 200) -> FakeSession:
        """Answer `method` requests whose path ends with `path_suffix`."""
        queue = [(p, status) for p in payloads] or [(None, status)]
        self._routes[(method.upper(), path_suffix)] = queue
        return self

    def request(self, method: str, url: str, *, verify: Any = True, timeout: float | None = None,
                headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
                json: Any = None) -> Response:
        call = RecordedCall(method.upper(), url, verify, timeout, dict(headers or {}),
                            dict(params or {}), json)
        self.calls.append(call)
        matches = [key for key in self._routes
                   if key[0] == call.method and call.path.endswith(key[1])]
        if not matches:
            return Response(404, b'{"error": "no route"}', {}, url)
        queue = self._routes[max(matches, key=lambda key: len(key[1]))]
        payload, status = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(payload, tuple):  # (status, payload) for one answer of a sequence
            status, payload = payload
        return _as_response(payload if payload is not None else b"", status, url)

    def calls_to(self, host: str) -> list[RecordedCall]:
        """The calls made to one host."""
        return [call for call in self.calls if call.host == host]
