"""The service's request handlers and its routes (plumbing in web.py, internal endpoints in
internal/).
"""

from __future__ import annotations

from . import settings
from .gateway import @@Gateway@@, @@ProviderError@@
from .internal.whoami import whoami
from .ledger import @@Ledger@@
from .models import Charge, new_reference
from .web import Reply, Request, Router, Services

__all__ = ["@@Gateway@@", "@@Ledger@@", "@@ProviderError@@", "Reply", "Request", "Router",
           "Services", "build_router"]


def create_charge(services: Services, request: Request, params: dict[str, str]) -> Reply:
    """POST /charges {amount_cents, currency?, source, reference?}"""
    body = request.body
    reference = body.get("reference") or new_reference("ch")
    if services.ledger.has(reference):
        return Reply(409, {"error": f"reference {reference} was already charged"})
    result = services.gateway.create_charge(
        int(body["amount_cents"]), body.get("currency", settings.DEFAULT_CURRENCY),
        body["source"], reference,
    )
    charge = Charge.from_provider(result)
    services.ledger.record("charge", reference, charge.amount_cents, charge.currency)
    return Reply(201, charge.to_dict())


def charge_status(services: Services, request: Request, params: dict[str, str]) -> Reply:
    """GET /charges/{charge_id}"""
    charge = Charge.from_provider(services.gateway.get_charge(params["charge_id"]))
    return Reply(200, charge.to_dict())


def build_router() -> Router:
    """The service's routes."""
    router = Router()
    @@pressure:router_setup@@
    router.add("POST", "/charges", create_charge)
    router.add("GET", "/charges/{charge_id}", charge_status)
    router.add("GET", "/internal/whoami", whoami)
    return router
