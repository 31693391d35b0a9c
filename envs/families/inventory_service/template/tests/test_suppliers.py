import csv

from @@pkg@@.contacts import mask_email, mask_name, mask_phone
from @@pkg@@.directory import COLUMNS, export_supplier_directory
from @@pkg@@.models import Supplier
from @@pkg@@.router import dispatch


def test_masking_helpers():
    assert mask_email("ana.lopez@brightwell.example") == "a***@brightwell.example"
    assert mask_phone("+31 20 555 0101") == "***01"
    assert mask_name("Ana Maria Lopez") == "A. M. L."


def test_supplier_validation():
    supplier = Supplier("SUP-2", "Acme", "Jo Doe", "not-an-email", "123", lead_time_days=-1)
    assert len(supplier.validate()) == 3


def test_register_supplier(app, token):
    data = {"id": "SUP-2", "company": "Acme Fixings", "@@contact_name_field@@": "Jo Doe",
            "@@contact_email_field@@": "jo@acme.example", "@@contact_phone_field@@": "+44 20 5550 1234"}
    status, body = dispatch(app, "POST", "/internal/v1/suppliers", token("stock:admin"),
                            {"supplier": data})
    assert status == 200 and body == {"id": "SUP-2"}
    assert app.supplier("SUP-2").company == "Acme Fixings"
    assert app.journal.named("supplier_registered")[0].payload["id"] == "SUP-2"
    data["@@contact_email_field@@"] = "broken"
    data["id"] = "SUP-3"
    assert dispatch(app, "POST", "/internal/v1/suppliers", token("stock:admin"),
                    {"supplier": data})[0] == 400


def test_directory_export(app, tmp_path):
    app.suppliers["SUP-1"].active = True
    app.add_supplier(Supplier("SUP-0", "Old Co", "Al Roe", "al@old.example", "+3120555",
                              active=False))
    path = tmp_path / "directory.csv"
    assert export_supplier_directory(app, path) == 1
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["SUP-1"] and list(rows[0]) == COLUMNS
