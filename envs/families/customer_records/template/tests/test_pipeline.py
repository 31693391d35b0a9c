import pytest

from @@pkg@@.pipeline import RejectedRecord, process


def test_process_normalizes_and_stores(make_record, store):
    record = process(make_record(), store)
    assert record.@@email_field@@ == "ana.lopez@example.org"
    assert record.country == "ES"
    assert store.get("C-1").tier == "basic"


def test_tier_from_balance(make_record, store):
    assert process(make_record(balance_cents=600_000), store).tier == "premium"


def test_invalid_record_is_rejected(make_record, store):
    with pytest.raises(RejectedRecord):
        process(make_record(@@email_field@@="broken"), store)
    assert len(store) == 0
