"""The HTTP-level plumbing: requests, replies, the services handlers use, and the router.

A handler takes `(services, request, params)` and returns a `Reply`. The router turns
errors into statuses: bad input 400, missing or invalid token 401, missing scope 403,
unknown route 404, provider errors 502, no transport or missing secret 503.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import auth, settings
from .gateway import @@Gateway@@, @@ProviderError@@
from .ledger import @@Ledger@@
from .transport import Transport, TransportError


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


@dataclass
class Services:
    """What handlers work with; tests build one around a fake transport."""

    gateway: @@Gateway@@
    ledger: @@Ledger@@
    transport: Transport | None = None


Handler = Callable[[Services, Request, dict[str, str]], Reply]


class Router:
    """Maps `METHOD /path/{param}` patterns to handlers."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, list[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), pattern.strip("/").split("/"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        parts = path.strip("/").split("/")
        for route_method, pattern, handler in self._routes:
            if route_method != method.upper() or len(pattern) != len(parts):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, parts):
                if want.startswith("{") and want.endswith("}"):
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                return handler, params
        raise LookupError(f"no route for {method} {path}")

    def dispatch(self, services: Services, request: Request) -> Reply:
        try:
            handler, params = self.match(request.method, request.path)
        except LookupError as exc:
            return Reply(404, {"error": str(exc)})
        try:
            return handler(services, request, params)
        except auth.Unauthorized as exc:
            return Reply(401, {"error": str(exc)})
        except auth.Forbidden as exc:
            return Reply(403, {"error": str(exc)})
        except (KeyError, TypeError, ValueError) as exc:
            return Reply(400, {"error": f"bad request: {exc}"})
        except @@ProviderError@@ as exc:
            return Reply(502, {"error": str(exc), "provider_status": exc.status})
        except (TransportError, settings.MissingSecretError) as exc:
            return Reply(503, {"error": str(exc)})
