"""The service's state: catalogue, stock book, reservations, shipments, suppliers, events."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .events import EventJournal
from .models import @@Item@@, Reservation, Shipment, Supplier
from .stock import @@Book@@, NotFound

RESERVATION_TTL_S = 15 * 60


@dataclass
class @@App@@:
    """Everything a handler or job works on; one per process."""

    items: dict[str, @@Item@@] = field(default_factory=dict)
    book: @@Book@@ = field(default_factory=@@Book@@)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    shipments: dict[str, Shipment] = field(default_factory=dict)
    suppliers: dict[str, Supplier] = field(default_factory=dict)
    journal: EventJournal = field(default_factory=EventJournal)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def add_item(self, item: @@Item@@) -> @@Item@@:
        problems = item.validate()
        if problems:
            raise ValueError("; ".join(problems))
        if item.sku in self.items:
            raise ValueError(f"duplicate sku {item.sku}")
        self.items[item.sku] = item
        return item

    def item(self, sku: str) -> @@Item@@:
        try:
            return self.items[sku]
        except KeyError:
            raise NotFound(f"unknown sku {sku!r}") from None

    def add_supplier(self, supplier: Supplier) -> Supplier:
        if supplier.id in self.suppliers:
            raise ValueError(f"duplicate supplier {supplier.id}")
        self.suppliers[supplier.id] = supplier
        return supplier

    def supplier(self, supplier_id: str) -> Supplier:
        try:
            return self.suppliers[supplier_id]
        except KeyError:
            raise NotFound(f"unknown supplier {supplier_id!r}") from None

    def reservation(self, reservation_id: str) -> Reservation:
        try:
            return self.reservations[reservation_id]
        except KeyError:
            raise NotFound(f"unknown reservation {reservation_id!r}") from None

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"
