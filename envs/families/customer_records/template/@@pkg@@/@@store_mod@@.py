"""JSON-file storage for @@record_word@@ records."""

from __future__ import annotations

import json
from pathlib import Path

from .models import @@Record@@


class NotFound(KeyError):
    """Raised when no record has the requested id."""


class @@Store@@:
    """Records kept in memory and saved to one JSON file after every change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._records: dict[str, @@Record@@] = {}
        if self.path.exists():
            for item in json.loads(self.path.read_text(encoding="utf-8")):
                record = @@Record@@.from_dict(item)
                self._records[record.id] = record

    def save(self) -> None:
        """Write every record to the JSON file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = [r.to_dict() for r in self._records.values()]
        self.path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")

    def add(self, record: @@Record@@) -> @@Record@@:
        """Insert a new record; ids must be unique."""
        if record.id in self._records:
            raise ValueError(f"duplicate id {record.id}")
        self._records[record.id] = record
        self.save()
        return record

    def get(self, record_id: str) -> @@Record@@:
        """The record with this id, or NotFound."""
        try:
            return self._records[record_id]
        except KeyError:
            raise NotFound(record_id) from None

    def update(self, record: @@Record@@) -> @@Record@@:
        """Replace a stored record with a new version."""
        self.get(record.id)
        self._records[record.id] = record
        self.save()
        return record

    def delete(self, record_id: str) -> None:
        """Remove a record."""
        self.get(record_id)
        del self._records[record_id]
        self.save()

    def all(self) -> list[@@Record@@]:
        """Every record, ordered by id."""
        return [self._records[k] for k in sorted(self._records)]

    def find_by_email(self, email: str) -> list[@@Record@@]:
        """Records whose email matches, ignoring case."""
        wanted = email.strip().lower()
        return [r for r in self.all() if r.@@email_field@@.lower() == wanted]

    def __len__(self) -> int:
        return len(self._records)
