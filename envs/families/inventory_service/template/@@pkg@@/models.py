"""Domain records of @@Service@@: @@item_word@@s, stock levels, reservations, shipments,
suppliers and the authenticated caller."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

WAREHOUSES = ("AMS1", "BER2", "LYS1", "WAW3", "MAD1")
UNITS = ("each", "box", "pallet", "kg")
RESERVATION_STATES = ("held", "released", "expired", "fulfilled")
_SKU = re.compile(r"^[A-Z]{3}-\d{4,6}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


@dataclass
class @@Item@@:
    """A stock-keeping unit as listed in the catalogue."""

    sku: str
    name: str
    unit: str = "each"
    reorder_level: int = 0
    unit_cost_cents: int = 0
    supplier_id: str = ""
    active: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> @@Item@@:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> list[str]:
        """Problems with this @@item_word@@; empty when it is valid."""
        problems = []
        if not _SKU.match(self.sku):
            problems.append(f"sku {self.sku!r} is not like ABC-1234")
        if not self.name.strip():
            problems.append("name is empty")
        if self.unit not in UNITS:
            problems.append(f"unknown unit {self.unit!r}")
        if self.reorder_level < 0:
            problems.append("reorder_level is negative")
        if self.unit_cost_cents < 0:
            problems.append("unit_cost_cents is negative")
        return problems


@dataclass(frozen=True)
class StockLevel:
    """Units of one sku in one warehouse: on hand, held by reservations, and free."""

    warehouse: str
    sku: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def to_dict(self) -> dict:
        return {**asdict(self), "available": self.available}


@dataclass
class Reservation:
    """Units held for an order until they are fulfilled, released or the hold expires."""

    id: str
    sku: str
    warehouse: str
    quantity: int
    order_ref: str
    created_at: float
    expires_at: float
    status: str = "held"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ShipmentLine:
    sku: str
    quantity: int


@dataclass
class Shipment:
    """An inbound delivery from a supplier, booked into one warehouse."""

    id: str
    supplier_id: str
    warehouse: str
    lines: list[ShipmentLine] = field(default_factory=list)
    received_by: str = ""

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Supplier:
    """A supplier and the person we talk to there."""

    id: str
    company: str
    @@contact_name_field@@: str
    @@contact_email_field@@: str
    @@contact_phone_field@@: str
    country: str = "NL"
    lead_time_days: int = 7
    active: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Supplier:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> list[str]:
        """Problems with this supplier record; empty when it is valid."""
        problems = []
        if not self.id.strip():
            problems.append("id is empty")
        if not self.company.strip():
            problems.append("company is empty")
        if not self.@@contact_name_field@@.strip():
            problems.append("@@contact_name_field@@ is empty")
        if not _EMAIL.match(self.@@contact_email_field@@):
            problems.append("@@contact_email_field@@ is not an email address")
        if len(re.sub(r"\D", "", self.@@contact_phone_field@@)) < 7:
            problems.append("@@contact_phone_field@@ has fewer than 7 digits")
        if self.lead_time_days < 0:
            problems.append("lead_time_days is negative")
        return problems


@dataclass(frozen=True)
class @@Principal@@:
    """Who is calling, as asserted by the identity provider."""

    subject: str
    scopes: frozenset[str]
    expires_at: float
    kind: str = "service"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
