from @@pkg@@.models import @@Record@@


def test_valid_record_has_no_problems(make_record):
    record = make_record(@@email_field@@="ana@example.org", country="ES")
    assert record.validate() == []


def test_problems_are_listed(make_record):
    record = make_record(@@email_field@@="nope", @@phone_field@@="12", country="XX")
    problems = record.validate()
    assert len(problems) == 3


def test_round_trip(make_record):
    record = make_record()
    assert @@Record@@.from_dict(record.to_dict()) == record
