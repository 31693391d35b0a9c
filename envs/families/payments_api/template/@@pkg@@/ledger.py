"""The ledger: every booked movement of money, in memory or in a JSON-lines file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .models import LedgerEntry


class @@Ledger@@:
    """Append-only list of `LedgerEntry`, optionally persisted as JSON lines."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self._entries: list[LedgerEntry] = []
        if self.path is not None and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self._entries.append(LedgerEntry(**json.loads(line)))

    def record(
        self, kind: str, reference: str, amount_cents: int, currency: str, at: str | None = None
    ) -> LedgerEntry:
        """Book one entry; amounts are positive, the kind gives the direction."""
        if amount_cents < 0:
            raise ValueError("ledger amounts are positive; the entry kind gives the sign")
        entry = LedgerEntry(kind, reference, amount_cents, currency)
        if at is not None:
            entry.at = at
        self._entries.append(entry)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry.to_dict(), sort_keys=True) + "\n")
        return entry

    def __iter__(self) -> Iterator[LedgerEntry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self, kind: str | None = None, day: str | None = None) -> list[LedgerEntry]:
        """Entries, optionally of one kind and/or booked on one ISO day (`2025-03-14`)."""
        return [
            e for e in self._entries
            if (kind is None or e.kind == kind) and (day is None or e.at[:10] == day)
        ]

    def has(self, reference: str) -> bool:
        return any(e.reference == reference for e in self._entries)

    def find(self, reference: str) -> list[LedgerEntry]:
        return [e for e in self._entries if e.reference == reference]

    def balance(self, currency: str) -> int:
        """Net minor units booked in one currency."""
        code = currency.upper()
        return sum(e.signed_cents for e in self._entries if e.currency == code)

    def currencies(self) -> list[str]:
        return sorted({e.currency for e in self._entries})
