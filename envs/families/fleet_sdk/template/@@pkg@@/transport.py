"""HTTP transport: the one place where requests leave the SDK.

Clients never open connections themselves. They call

    session.request(method, url, *, verify, timeout, headers, params, json)

on an injected session object and get a `Response` back. `verify` follows the usual
convention: True verifies the server certificate against the system trust store, a string
is the path of a CA bundle to verify against, and False turns certificate verification off.

The default session is `OfflineSession`, which refuses every request: the SDK only goes on
the network with a real session (`UrllibSession`), passed explicitly or enabled with
`@@PKG@@_LIVE=1`. Tests inject `@@pkg@@.testing.FakeSession`.
"""

from __future__ import annotations

import json as _json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import TransportError, error_for_status

LIVE_ENV = "@@PKG@@_LIVE"
DEFAULT_TIMEOUT = 10.0


@dataclass
class Response:
    """An HTTP answer: status, raw body and headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    url: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body)."""
        if not self.body:
            return None
        return _json.loads(self.body)

    def raise_for_status(self) -> Response:
        """Raise the matching ApiError for a non-2xx status; return self otherwise."""
        if not self.ok:
            raise error_for_status(self.status, self.text[:200], self.url)
        return self

    @classmethod
    def from_json(cls, payload: Any, status: int = 200, url: str = "") -> Response:
        return cls(status, _json.dumps(payload).encode("utf-8"),
                   {"Content-Type": "application/json"}, url)


class Session(Protocol):
    """What clients need from a transport session."""

    def request(
        self,
        method: str,
        url: str,
        *,
        verify: bool | str = True,
        timeout: float = DEFAULT_TIMEOUT,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Response: ...


def build_url(url: str, params: dict[str, Any] | None) -> str:
    """`url` with `params` appended as a query string (None values are left out)."""
    if not params:
        return url
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


class OfflineSession:
    """The default session: refuses to touch the network."""

    def request(self, method: str, url: str, *, verify: bool | str = True,
                timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None, json: Any = None) -> Response:
        raise TransportError(
            f"offline: refusing {method} {url} (pass session=..., or set {LIVE_ENV}=1)"
        )


class UrllibSession:
    """A real session on top of urllib (no third-party dependencies)."""

    def _context(self, verify: bool | str) -> ssl.SSLContext:
        if isinstance(verify, str):
            return ssl.create_default_context(cafile=verify)
        context = ssl.create_default_context()
        if verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def request(self, method: str, url: str, *, verify: bool | str = True,
                timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None, json: Any = None) -> Response:
        all_headers = dict(headers or {})
        body = None
        if json is not None:
            body = _json.dumps(json).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/json")
        full_url = build_url(url, params)
        request = urllib.request.Request(full_url, data=body, headers=all_headers,
                                         method=method.upper())
        context = self._context(verify) if full_url.startswith("https:") else None
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
                return Response(answer.status, answer.read(), dict(answer.headers), full_url)
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read(), dict(exc.headers or {}), full_url)
        except (urllib.error.URLError, OSError) as exc:
            raise TransportError(f"{method} {full_url}: {exc}") from exc


def default_session() -> Session:
    """The session clients use when none is passed (offline unless @@PKG@@_LIVE=1)."""
    if os.environ.get(LIVE_ENV) == "1":
        return UrllibSession()
    return OfflineSession()
