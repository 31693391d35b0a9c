"""Money amounts, charges and ledger entries.

Amounts are always integer minor units (cents); @@Provider@@ rejects decimals.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from . import settings

CHARGE_STATUSES = ("pending", "succeeded", "failed", "refunded", "partially_refunded")
ENTRY_KINDS = ("charge", "refund", "payout", "fee", "adjustment")
_ZERO_DECIMAL = {"JPY", "KRW"}


def validate_amount(amount_cents: int, currency: str) -> tuple[int, str]:
    """Check an amount for a charge; returns (amount_cents, normalised currency)."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ValueError(f"amount must be integer minor units, got {amount_cents!r}")
    code = settings.require_currency(currency)
    if not settings.MIN_CHARGE_CENTS <= amount_cents <= settings.MAX_CHARGE_CENTS:
        raise ValueError(
            f"amount {amount_cents} outside {settings.MIN_CHARGE_CENTS}.."
            f"{settings.MAX_CHARGE_CENTS}"
        )
    return amount_cents, code


def format_amount(amount_cents: int, currency: str) -> str:
    """`1250, "EUR"` -> `"12.50 EUR"` (for receipts and reports)."""
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return f"{amount_cents} {code}"
    sign = "-" if amount_cents < 0 else ""
    whole, cents = divmod(abs(amount_cents), 100)
    return f"{sign}{whole}.{cents:02d} {code}"


def new_reference(prefix: str) -> str:
    """A unique merchant reference such as `ch_5f2a91c0d3e4`."""
    return f"{prefix}_{secrets.token_hex(6)}"


def utc_now() -> str:
    """The current UTC time as an ISO-8601 string (seconds precision)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Charge:
    """A charge as @@Provider@@ reports it."""

    id: str
    amount_cents: int
    currency: str
    status: str = "pending"
    reference: str = ""
    refunded_cents: int = 0

    @classmethod
    def from_provider(cls, body: dict) -> Charge:
        status = body.get("status", "pending")
        if status not in CHARGE_STATUSES:
            raise ValueError(f"unknown charge status {status!r}")
        return cls(
            id=body["id"],
            amount_cents=int(body["amount_cents"]),
            currency=str(body["currency"]).upper(),
            status=status,
            reference=body.get("reference", ""),
            refunded_cents=int(body.get("refunded_cents", 0)),
        )

    @property
    def refundable_cents(self) -> int:
        return max(0, self.amount_cents - self.refunded_cents)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LedgerEntry:
    """One booked movement of money."""

    kind: str
    reference: str
    amount_cents: int
    currency: str
    at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.kind not in ENTRY_KINDS:
            raise ValueError(f"unknown ledger entry kind {self.kind!r}")
        self.currency = self.currency.upper()

    @property
    def signed_cents(self) -> int:
        """Positive for money in (charges), negative for money out."""
        return self.amount_cents if self.kind in ("charge", "adjustment") else -self.amount_cents

    def to_dict(self) -> dict:
        return asdict(self)
