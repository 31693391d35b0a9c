"""HTTP transport used by every provider client.

A client sends through a `Transport`: `send(method, url, headers, body) -> Response`, with
JSON bodies in and out. The process-wide default is an `OfflineTransport`, which refuses to
send anything: no code in this repository reaches the network unless a transport was
configured explicitly. Production start-up calls `set_default_transport(UrllibTransport())`;
tests inject fakes (a `Transport` subclass that records requests).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from . import settings


class TransportError(RuntimeError):
    """The request could not be sent (no transport configured, connection failure)."""


@dataclass(frozen=True)
class Response:
    """A decoded HTTP response."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Transport:
    """Sends one HTTP request and returns the decoded response."""

    def send(
        self, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        raise NotImplementedError


class OfflineTransport(Transport):
    """The default: refuses to send, so nothing reaches the network by accident."""

    def send(
        self, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        raise TransportError(
            f"no transport configured: refusing to send {method} {url} "
            "(production start-up installs one with set_default_transport)"
        )


class UrllibTransport(Transport):
    """Real HTTP over urllib. Only production start-up installs it."""

    def __init__(self, timeout: float = settings.REQUEST_TIMEOUT_S):
        self.timeout = timeout

    def send(
        self, method: str, url: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method=method,
            headers={**headers, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                status, raw, reply_headers = reply.status, reply.read(), dict(reply.headers)
        except urllib.error.HTTPError as exc:
            status, raw, reply_headers = exc.code, exc.read(), dict(exc.headers or {})
        except OSError as exc:
            raise TransportError(f"{method} {url}: {exc}") from exc
        return Response(status=status, body=_decode(raw), headers=reply_headers)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        return raw.decode("utf-8", errors="replace")


_default: Transport = OfflineTransport()


def get_default_transport() -> Transport:
    """The transport clients use when none was passed to them."""
    return _default


def set_default_transport(transport: Transport) -> Transport:
    """Install `transport` as the process-wide default; returns the previous one."""
    global _default
    @@pressure:transport_default@@
    previous, _default = _default, transport
    return previous


def resolve(transport: Transport | None) -> Transport:
    """`transport` if given, else the current default (looked up at call time)."""
    return transport if transport is not None else _default
