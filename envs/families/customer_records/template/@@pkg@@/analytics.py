"""Aggregate figures for dashboards. Only counts and sums: no personal data leaves here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .models import TIERS, @@Record@@


def count_by_tier(records: Iterable[@@Record@@]) -> dict[str, int]:
    """How many records per tier, every tier present (zero when empty)."""
    counts = Counter(r.tier for r in records)
    return {tier: counts.get(tier, 0) for tier in TIERS}


def count_by_country(records: Iterable[@@Record@@]) -> dict[str, int]:
    """How many records per country, most common first."""
    return dict(Counter(r.country for r in records).most_common())


def total_balance_cents(records: Iterable[@@Record@@]) -> int:
    """Sum of balances of active records."""
    return sum(r.balance_cents for r in records if r.active)


def average_balance_cents(records: Iterable[@@Record@@]) -> float:
    """Mean balance of active records; 0.0 when there are none."""
    active = [r.balance_cents for r in records if r.active]
    return sum(active) / len(active) if active else 0.0
