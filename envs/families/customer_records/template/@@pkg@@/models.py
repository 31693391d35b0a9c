"""The @@Record@@ record: the one shape every module of @@Service@@ shares."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

TIERS = ("basic", "plus", "premium")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "PL", "SE", "CA")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


@dataclass
class @@Record@@:
    """A @@record_word@@ as stored by @@Service@@."""

    id: str
    @@name_field@@: str
    @@email_field@@: str
    @@phone_field@@: str
    country: str = "US"
    tier: str = "basic"
    balance_cents: int = 0
    signup: str = "2024-01-01"
    active: bool = True
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Every field, as plain JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> @@Record@@:
        """Build a record from a mapping, ignoring keys the model does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> list[str]:
        """Return a list of problems; empty when the record is valid."""
        problems = []
        if not self.id:
            problems.append("id is empty")
        if not self.@@name_field@@.strip():
            problems.append("@@name_field@@ is empty")
        if not _EMAIL.match(self.@@email_field@@):
            problems.append("@@email_field@@ is not an email address")
        if len(re.sub(r"\D", "", self.@@phone_field@@)) < 7:
            problems.append("@@phone_field@@ has fewer than 7 digits")
        if self.country not in COUNTRIES:
            problems.append(f"unknown country {self.country!r}")
        if self.tier not in TIERS:
            problems.append(f"unknown tier {self.tier!r}")
        if self.balance_cents < 0:
            problems.append("balance_cents is negative")
        return problems
