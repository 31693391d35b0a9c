"""Stock levels per (warehouse, sku): units on hand and units held by reservations."""

from __future__ import annotations

import json
from pathlib import Path

from .models import WAREHOUSES, StockLevel


class NotFound(KeyError):
    """No such sku, warehouse, reservation or shipment."""


class InsufficientStock(ValueError):
    """Fewer units are available than the operation needs."""


def check_warehouse(warehouse: str) -> str:
    if warehouse not in WAREHOUSES:
        raise NotFound(f"unknown warehouse {warehouse!r}")
    return warehouse


def check_quantity(quantity: int, *, allow_zero: bool = False) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise TypeError("quantities are whole numbers of units")
    if quantity < 0 or (quantity == 0 and not allow_zero):
        raise ValueError(f"bad quantity {quantity}")
    return quantity


class @@Book@@:
    """Units on hand and units reserved, per warehouse and sku."""

    def __init__(self) -> None:
        self._on_hand: dict[tuple[str, str], int] = {}
        self._reserved: dict[tuple[str, str], int] = {}

    def on_hand(self, warehouse: str, sku: str) -> int:
        return self._on_hand.get((warehouse, sku), 0)

    def reserved(self, warehouse: str, sku: str) -> int:
        return self._reserved.get((warehouse, sku), 0)

    def available(self, warehouse: str, sku: str) -> int:
        return self.on_hand(warehouse, sku) - self.reserved(warehouse, sku)

    def level(self, warehouse: str, sku: str) -> StockLevel:
        return StockLevel(warehouse, sku, self.on_hand(warehouse, sku),
                          self.reserved(warehouse, sku))

    def receive(self, warehouse: str, sku: str, quantity: int) -> int:
        """Add units to stock on hand; return the new on-hand figure."""
        check_warehouse(warehouse)
        check_quantity(quantity)
        key = (warehouse, sku)
        self._on_hand[key] = self._on_hand.get(key, 0) + quantity
        return self._on_hand[key]

    def remove(self, warehouse: str, sku: str, quantity: int) -> int:
        """Take available units out of stock (shipped, scrapped, moved); return on hand."""
        check_quantity(quantity)
        if self.available(warehouse, sku) < quantity:
            raise InsufficientStock(f"{sku}@{warehouse}: {self.available(warehouse, sku)} "
                                    f"available, {quantity} needed")
        self._on_hand[(warehouse, sku)] -= quantity
        return self._on_hand[(warehouse, sku)]

    def set_on_hand(self, warehouse: str, sku: str, quantity: int) -> int:
        """Overwrite the on-hand figure (a count); return the change. Never below reserved."""
        check_warehouse(warehouse)
        check_quantity(quantity, allow_zero=True)
        if quantity < self.reserved(warehouse, sku):
            raise InsufficientStock(f"{sku}@{warehouse}: {self.reserved(warehouse, sku)} "
                                    f"units are reserved, cannot set on hand to {quantity}")
        delta = quantity - self.on_hand(warehouse, sku)
        self._on_hand[(warehouse, sku)] = quantity
        return delta

    def hold(self, warehouse: str, sku: str, quantity: int) -> None:
        """Reserve available units."""
        check_quantity(quantity)
        if self.available(warehouse, sku) < quantity:
            raise InsufficientStock(f"{sku}@{warehouse}: {self.available(warehouse, sku)} "
                                    f"available, {quantity} requested")
        key = (warehouse, sku)
        self._reserved[key] = self._reserved.get(key, 0) + quantity

    def unhold(self, warehouse: str, sku: str, quantity: int) -> None:
        """Give reserved units back to available stock."""
        check_quantity(quantity)
        key = (warehouse, sku)
        if self._reserved.get(key, 0) < quantity:
            raise ValueError(f"{sku}@{warehouse}: only {self._reserved.get(key, 0)} reserved")
        self._reserved[key] -= quantity

    def levels(self, warehouse: str | None = None) -> list[StockLevel]:
        """Every level (optionally of one warehouse), ordered by warehouse then sku."""
        keys = set(self._on_hand) | set(self._reserved)
        return [self.level(w, s) for w, s in sorted(keys) if warehouse in (None, w)]

    def total_available(self, sku: str) -> int:
        """Available units of a sku across every warehouse."""
        return sum(level.available for level in self.levels() if level.sku == sku)

    def save(self, path: str | Path) -> None:
        """Write every level to a JSON file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [level.to_dict() for level in self.levels()]
        path.write_text(json.dumps(rows, indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> @@Book@@:
        book = cls()
        for row in json.loads(Path(path).read_text(encoding="utf-8")):
            book._on_hand[(row["warehouse"], row["sku"])] = row["on_hand"]
            book._reserved[(row["warehouse"], row["sku"])] = row["reserved"]
        return book
