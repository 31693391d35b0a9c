"""Exports of @@record_word@@ records for finance and support (CSV and JSON)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path

from .@@VIEW_MODULE@@ import @@VIEW@@
from .audit import @@log_fn@@, get_logger
from .models import @@Record@@

logger = get_logger("@@pkg@@.export")
COLUMNS = ["id", "@@name_field@@", "@@email_field@@", "@@phone_field@@", "country", "tier",
           "balance_cents"]


def export_row(record: @@Record@@) -> dict:
    """One export row: the export columns of the record's view."""
    @@pressure:export_row@@
    view = @@VIEW@@(record)
    return {column: view[column] for column in COLUMNS}


def export_csv(records: Iterable[@@Record@@], path: str | Path) -> int:
    """Write records to a CSV file; return how many rows were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow(export_row(record))
            count += 1
    @@log_fn@@(logger, "export_csv", {"path": str(path), "rows": count})
    return count


def export_json(records: Iterable[@@Record@@], path: str | Path) -> int:
    """Write records to a JSON file (a list of rows); return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [export_row(record) for record in records]
    path.write_text(json.dumps(rows, indent=2, sort_keys=True), encoding="utf-8")
    @@log_fn@@(logger, "export_json", {"path": str(path), "rows": len(rows)})
    return len(rows)

