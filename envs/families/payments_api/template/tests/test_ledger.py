import pytest

from @@pkg@@.ledger import @@Ledger@@
from @@pkg@@.models import format_amount, validate_amount


def test_balance_and_persistence(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = @@Ledger@@(path)
    ledger.record("charge", "r1", 5000, "eur")
    ledger.record("refund", "r2", 1200, "EUR")
    ledger.record("fee", "r3", 75, "EUR", at="2025-03-14T10:00:00+00:00")
    assert ledger.balance("EUR") == 3725
    reloaded = @@Ledger@@(path)
    assert len(reloaded) == 3
    assert [e.reference for e in reloaded.entries(day="2025-03-14")] == ["r3"]
    assert reloaded.has("r2") and not reloaded.has("r9")


def test_negative_amounts_are_rejected():
    with pytest.raises(ValueError):
        @@Ledger@@().record("charge", "r1", -5, "EUR")


def test_amount_helpers():
    assert format_amount(1250, "eur") == "12.50 EUR"
    assert format_amount(-5, "USD") == "-0.05 USD"
    assert validate_amount(1250, "usd") == (1250, "USD")
