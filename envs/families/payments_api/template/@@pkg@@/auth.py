"""Caller authentication: bearer tokens checked against the @@Service@@ identity service.

`validate_token(token)` asks the identity service on every call (one network round-trip,
so a revoked token stops working at once). `@@cached_fn@@(token)` validates a token once
and then reuses the principal until the token expires (no round-trip on repeated calls).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import settings
from .transport import Transport, TransportError, resolve


class Unauthorized(Exception):
    """The request carries no valid token (401)."""


class Forbidden(Exception):
    """The token is valid but lacks the scope the endpoint needs (403)."""


@dataclass(frozen=True)
class Principal:
    """Who a token belongs to and what it may do."""

    subject: str
    scopes: frozenset[str]
    expires_at: float

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def bearer_token(headers: dict[str, str]) -> str:
    """The token of an `Authorization: Bearer <token>` header; Unauthorized if there is none."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = str(value).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


def validate_token(token: str, transport: Transport | None = None) -> Principal:
    """Ask the identity service whether `token` is valid right now (one request per call)."""
    if not token:
        raise Unauthorized("empty token")
    @@pressure:auth_validate@@
    response = resolve(transport).send(
        "GET", f"{settings.IDENTITY_BASE_URL}/tokeninfo",
        {"Authorization": f"Bearer {token}", "User-Agent": settings.USER_AGENT},
    )
    if response.status in (401, 403):
        raise Unauthorized("token rejected by the identity service")
    if not response.ok:
        raise TransportError(f"identity service answered {response.status}")
    body = response.body or {}
    if not body.get("active"):
        raise Unauthorized("token is not active")
    expires_at = float(body.get("exp", 0))
    if expires_at <= time.time():
        raise Unauthorized("token has expired")
    return Principal(
        subject=str(body.get("sub", "")),
        scopes=frozenset(str(body.get("scope", "")).split()),
        expires_at=expires_at,
    )


_validated: dict[str, Principal] = {}


def @@cached_fn@@(token: str, transport: Transport | None = None) -> Principal:
    """`validate_token` once per token; later calls reuse the principal until it expires."""
    principal = _validated.get(token)
    if principal is not None and principal.expires_at > time.time():
        return principal
    principal = validate_token(token, transport)
    _validated[token] = principal
    return principal


def clear_token_cache() -> None:
    """Forget every cached validation (tests, key rotation)."""
    _validated.clear()


def require_scope(principal: Principal, scope: str) -> None:
    """Forbidden unless the principal's token grants `scope`."""
    if not principal.has_scope(scope):
        raise Forbidden(f"{principal.subject or 'caller'} lacks the scope {scope}")
