"""The supplier directory: a CSV of the active suppliers for purchasing and the dock desk."""

from __future__ import annotations

import csv
from pathlib import Path

from .app import @@App@@
from .contacts import @@VIEW@@
from .models import Supplier

COLUMNS = ["id", "company", "@@contact_name_field@@", "@@contact_email_field@@",
           "@@contact_phone_field@@", "country", "lead_time_days"]


def directory_row(supplier: Supplier) -> dict:
    """One directory row: the directory columns of the supplier's view."""
    @@pressure:directory_row@@
    view = @@VIEW@@(supplier)
    return {column: view[column] for column in COLUMNS}


def export_supplier_directory(app: @@App@@, path: str | Path,
                              actor: str = "directory-job") -> int:
    """Write every active supplier (by id) to a CSV file; return the number of rows."""
    suppliers = [app.suppliers[key] for key in sorted(app.suppliers)
                 if app.suppliers[key].active]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for supplier in suppliers:
            writer.writerow(directory_row(supplier))
    app.journal.@@emit_fn@@("directory_exported", actor,
                            {"path": str(path), "rows": len(suppliers)})
    return len(suppliers)
