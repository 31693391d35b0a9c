"""Routing: (method, path) -> handler, and errors -> HTTP status codes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .app import @@App@@
from .auth import @@AuthError@@, ForbiddenError
from .handlers import (
    Request,
    get_stock,
    receive_shipment,
    register_supplier,
    release_reservation,
    reserve_stock,
    stock_snapshot,
)
from .stock import InsufficientStock, NotFound

PUBLIC_PREFIX = "/api/v1/"
INTERNAL_PREFIX = "/internal/v1/"
Handler = Callable[[@@App@@, Request], Any]
logger = logging.getLogger("@@pkg@@.router")

ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/stock"): get_stock,
    ("POST", "/api/v1/reservations"): reserve_stock,
    ("POST", "/api/v1/reservations/release"): release_reservation,
    ("POST", "/internal/v1/shipments"): receive_shipment,
    ("GET", "/internal/v1/stock-snapshot"): stock_snapshot,
    ("POST", "/internal/v1/suppliers"): register_supplier,
}


def is_internal(path: str) -> bool:
    """Whether a path is only reachable from inside the cluster."""
    return path.startswith(INTERNAL_PREFIX)


def dispatch(app: @@App@@, method: str, path: str, token: str,
             params: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Run the handler for (method, path); return (status, body)."""
    handler = ROUTES.get((method.upper(), path))
    if handler is None:
        return 404, {"error": f"no route {method.upper()} {path}"}
    request = Request(token=token, params=dict(params or {}))
    @@pressure:dispatch@@
    try:
        return 200, handler(app, request)
    except @@AuthError@@ as exc:
        return 401, {"error": str(exc)}
    except ForbiddenError as exc:
        return 403, {"error": str(exc)}
    except NotFound as exc:
        return 404, {"error": str(exc.args[0] if exc.args else exc)}
    except InsufficientStock as exc:
        return 409, {"error": str(exc)}
    except (TypeError, ValueError) as exc:
        logger.info("bad request %s %s: %s", method.upper(), path, exc)
        return 400, {"error": str(exc)}
