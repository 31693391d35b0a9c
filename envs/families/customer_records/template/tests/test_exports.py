import csv
import json

from @@pkg@@.analytics import count_by_tier, total_balance_cents
from @@pkg@@.@@export_mod@@ import COLUMNS, export_csv, export_json


def test_csv_export_has_header_and_rows(make_record, tmp_path):
    path = tmp_path / "out.csv"
    assert export_csv([make_record("C-1"), make_record("C-2")], path) == 2
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["C-1", "C-2"]
    assert list(rows[0]) == COLUMNS


def test_json_export(make_record, tmp_path):
    path = tmp_path / "out.json"
    export_json([make_record("C-9", tier="plus")], path)
    assert json.loads(path.read_text())[0]["tier"] == "plus"


def test_analytics(make_record):
    records = [make_record("C-1", balance_cents=10), make_record("C-2", balance_cents=5)]
    assert count_by_tier(records)["basic"] == 2
    assert total_balance_cents(records) == 15
