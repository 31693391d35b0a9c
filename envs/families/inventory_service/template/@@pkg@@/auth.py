"""Authentication of callers: bearer tokens issued by the identity provider (IdP).

A token is ``<payload>.<signature>``: the payload is url-safe base64 of a JSON object
(``sub``, ``scp``, ``exp``, ``knd``, ``jti``) and the signature is its HMAC-SHA256 under the
signing key (``$@@PKG@@_SIGNING_KEY``; a development key otherwise).

``@@validate_fn@@`` is the authoritative check. In production it is a round-trip to the IdP
(about 40 ms): signature, expiry and the IdP's revocation list. Here the IdP is simulated in
process, including its latency (``$@@PKG@@_IDP_LATENCY_MS``, default 40).

``@@cache_fn@@`` validates a token once per process and then reuses the principal until
the token expires, without asking the IdP again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable

from .models import @@Principal@@

SIGNING_KEY_ENV = "@@PKG@@_SIGNING_KEY"
LATENCY_ENV = "@@PKG@@_IDP_LATENCY_MS"
DEFAULT_TTL_S = 3600
SCOPES = ("stock:read", "stock:write", "stock:admin", "audit:read")
_DEV_KEY = "dev-only-signing-key-do-not-deploy"
_REVOKED: set[str] = set()  # the IdP's revocation list (token ids)


class @@AuthError@@(Exception):
    """The token is malformed, forged, expired or revoked (HTTP 401)."""


class ForbiddenError(Exception):
    """The caller is authenticated but lacks the scope the operation needs (HTTP 403)."""


def _key() -> bytes:
    return os.environ.get(SIGNING_KEY_ENV, _DEV_KEY).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str) -> str:
    return _b64(hmac.new(_key(), payload.encode("ascii"), hashlib.sha256).digest())


def issue_token(
    subject: str,
    scopes: Iterable[str],
    *,
    ttl_s: float = DEFAULT_TTL_S,
    kind: str = "service",
    now: float | None = None,
) -> str:
    """A signed token for `subject` (what the IdP hands out; used by tests and tooling)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    issued = time.time() if now is None else now
    claims = {"sub": subject, "scp": sorted(set(scopes)), "exp": issued + ttl_s,
              "knd": kind, "jti": uuid.uuid4().hex}
    payload = _b64(json.dumps(claims, sort_keys=True).encode("utf-8"))
    return f"{payload}.{_sign(payload)}"


def _claims(token: str) -> dict:
    """The verified claims of a token; @@AuthError@@ when it is malformed or forged."""
    if not isinstance(token, str) or token.count(".") != 1:
        raise @@AuthError@@("malformed token")
    payload, signature = token.split(".")
    if not hmac.compare_digest(_sign(payload), signature):
        raise @@AuthError@@("bad token signature")
    try:
        claims = json.loads(_unb64(payload))
    except ValueError:
        raise @@AuthError@@("malformed token payload") from None
    if not {"sub", "scp", "exp", "jti"} <= set(claims):
        raise @@AuthError@@("token lacks required claims")
    return claims


def revoke_token(token: str) -> None:
    """Put a token on the IdP's revocation list (e.g. a leaked service credential)."""
    _REVOKED.add(_claims(token)["jti"])


def _idp_round_trip() -> None:
    latency_ms = float(os.environ.get(LATENCY_ENV, "40"))
    if latency_ms > 0:
        time.sleep(latency_ms / 1000)


def @@validate_fn@@(token: str) -> @@Principal@@:
    """Ask the IdP who is calling. Raises @@AuthError@@ for a bad, expired or revoked token."""
    _idp_round_trip()
    claims = _claims(token)
    if float(claims["exp"]) <= time.time():
        raise @@AuthError@@("token expired")
    if claims["jti"] in _REVOKED:
        raise @@AuthError@@("token revoked")
    return @@Principal@@(
        subject=claims["sub"],
        scopes=frozenset(claims["scp"]),
        expires_at=float(claims["exp"]),
        kind=claims.get("knd", "service"),
    )


class TokenCache:
    """Principals by token: each token is validated once, then reused until it expires.

    A token revoked at the IdP keeps working here until it expires or the cache is cleared.
    """

    def __init__(self) -> None:
        self._entries: dict[str, @@Principal@@] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, token: str) -> @@Principal@@:
        with self._lock:
            principal = self._entries.get(token)
        if principal is not None and principal.expires_at > time.time():
            self.hits += 1
            return principal
        @@pressure:token_cache@@
        principal = @@validate_fn@@(token)
        with self._lock:
            self._entries[token] = principal
            self.misses += 1
        return principal

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_CACHE = TokenCache()


def @@cache_fn@@(token: str) -> @@Principal@@:
    """The caller's principal, validated at most once per token in this process."""
    return _CACHE.get(token)


def clear_token_cache() -> None:
    """Forget every cached principal (tests, key rotation)."""
    _CACHE.clear()


def require_scope(principal: @@Principal@@, scope: str) -> @@Principal@@:
    """Return the principal if it holds `scope`, else raise ForbiddenError."""
    if not principal.has_scope(scope):
        raise ForbiddenError(f"{principal.subject} lacks scope {scope}")
    return principal
