"""Request handlers.

Public handlers (``/api/v1``) serve the storefront and checkout through the API gateway.
Internal handlers (``/internal/v1``) serve the warehouse scanners, the WMS and batch jobs.
Every handler authenticates the caller's bearer token and checks a scope before it
touches any state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .app import RESERVATION_TTL_S, @@App@@
from .auth import @@AUTH_IMPORTS@@, require_scope
from .contacts import @@VIEW@@
from .models import @@Principal@@, Reservation, Shipment, ShipmentLine, Supplier
from .stock import check_quantity, check_warehouse


@dataclass(frozen=True)
class Request:
    """A parsed request: the bearer token and the parameters (query or JSON body)."""

    token: str
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            raise ValueError(f"missing parameter {name!r}") from None


# --- public: storefront and checkout ------------------------------------------------------


def _gateway_caller(request: Request, scope: str) -> @@Principal@@:
    """The principal behind a public request (via the API gateway), holding `scope`."""
    return require_scope(@@validate_fn@@(request.token), scope)


def get_stock(app: @@App@@, request: Request) -> dict:
    """GET /api/v1/stock?sku=&warehouse= : one stock level."""
    principal = _gateway_caller(request, "stock:read")
    sku, warehouse = request.param("sku"), check_warehouse(request.param("warehouse"))
    app.item(sku)
    level = app.book.level(warehouse, sku)
    app.journal.@@emit_fn@@("stock_viewed", principal.subject, {"sku": sku,
                                                                "warehouse": warehouse})
    return level.to_dict()


def reserve_stock(app: @@App@@, request: Request) -> dict:
    """POST /api/v1/reservations : hold units for an order."""
    principal = _gateway_caller(request, "stock:write")
    sku, warehouse = request.param("sku"), check_warehouse(request.param("warehouse"))
    quantity = check_quantity(request.param("quantity"))
    if not app.item(sku).active:
        raise ValueError(f"{sku} is discontinued")
    app.book.hold(warehouse, sku, quantity)
    now = time.time()
    reservation = Reservation(id=app.next_id("RSV"), sku=sku, warehouse=warehouse,
                              quantity=quantity, order_ref=str(request.param("order_ref")),
                              created_at=now, expires_at=now + RESERVATION_TTL_S)
    app.reservations[reservation.id] = reservation
    app.journal.@@emit_fn@@("stock_reserved", principal.subject, reservation.to_dict())
    return reservation.to_dict()


def release_reservation(app: @@App@@, request: Request) -> dict:
    """POST /api/v1/reservations/release : give a held reservation back (order cancelled)."""
    principal = _gateway_caller(request, "stock:write")
    reservation = app.reservation(request.param("reservation_id"))
    if reservation.status != "held":
        raise ValueError(f"{reservation.id} is {reservation.status}")
    app.book.unhold(reservation.warehouse, reservation.sku, reservation.quantity)
    reservation.status = "released"
    app.journal.@@emit_fn@@("reservation_released", principal.subject, reservation.to_dict())
    return reservation.to_dict()


# --- internal: scanners, WMS, batch jobs --------------------------------------------------


def receive_shipment(app: @@App@@, request: Request) -> dict:
    """POST /internal/v1/shipments : book an inbound delivery scanned at the dock."""
    @@pressure:receive_shipment@@
    principal = require_scope(@@AUTH@@(request.token), "stock:write")
    warehouse = check_warehouse(request.param("warehouse"))
    supplier = app.supplier(request.param("supplier_id"))
    lines = [ShipmentLine(str(sku), check_quantity(qty))
             for sku, qty in sorted(request.param("lines").items())]
    if not lines:
        raise ValueError("a shipment needs at least one line")
    for line in lines:
        app.item(line.sku)
    shipment = Shipment(id=app.next_id("SHP"), supplier_id=supplier.id, warehouse=warehouse,
                        lines=lines, received_by=principal.subject)
    for line in lines:
        app.book.receive(warehouse, line.sku, line.quantity)
    app.shipments[shipment.id] = shipment
    app.journal.@@emit_fn@@("shipment_received", principal.subject,
                            {"shipment": shipment.id, "supplier": supplier.id,
                             "warehouse": warehouse, "units": shipment.units})
    return shipment.to_dict()


def stock_snapshot(app: @@App@@, request: Request) -> dict:
    """GET /internal/v1/stock-snapshot?warehouse= : every level of one warehouse."""
    @@pressure:stock_snapshot@@
    principal = require_scope(@@AUTH@@(request.token), "stock:read")
    warehouse = check_warehouse(request.param("warehouse"))
    levels = [level.to_dict() for level in app.book.levels(warehouse)]
    app.journal.@@emit_fn@@("snapshot_served", principal.subject,
                            {"warehouse": warehouse, "levels": len(levels)})
    return {"warehouse": warehouse, "levels": levels}


def register_supplier(app: @@App@@, request: Request) -> dict:
    """POST /internal/v1/suppliers : add a supplier (purchasing back office)."""
    principal = require_scope(@@AUTH@@(request.token), "stock:admin")
    supplier = Supplier.from_dict(dict(request.param("supplier")))
    problems = supplier.validate()
    if problems:
        raise ValueError("; ".join(problems))
    app.add_supplier(supplier)
    @@pressure:register_supplier@@
    app.journal.@@emit_fn@@("supplier_registered", principal.subject, @@VIEW@@(supplier))
    return {"id": supplier.id}
