from datetime import date, datetime, timezone

import pytest

from @@pkg@@.errors import NotFoundError, TransportError
from @@pkg@@.models import Trip, format_timestamp, from_epoch, parse_timestamp, to_epoch
from @@pkg@@.retry import RetryPolicy, with_retries
from @@pkg@@.transport import OfflineSession, build_url, default_session


def test_timestamps_round_trip():
    moment = parse_timestamp("2024-05-01T08:30:00Z")
    assert moment == datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc)
    assert format_timestamp(moment) == "2024-05-01T08:30:00Z"
    assert from_epoch(to_epoch(moment)) == moment
    assert to_epoch(date(1970, 1, 2)) == 86400


def test_trip_legacy_shape():
    trip = Trip.from_legacy({"trip_no": 12, "start": 0, "end": 600, "km": 3.2}, "U-1")
    assert trip.trip_id == "12" and trip.duration_minutes == 10.0


def test_retry_delays_and_give_up():
    assert RetryPolicy(attempts=4, backoff=1, factor=2, max_delay=3).delays() == [1, 2, 3]
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        raise TransportError("reset")

    with pytest.raises(TransportError):
        with_retries(flaky, policy=RetryPolicy(attempts=3), sleep=sleeps.append)
    assert len(calls) == 3 and sleeps == [0.5, 1.0]


def test_not_found_is_not_retried():
    calls = []

    def missing():
        calls.append(1)
        raise NotFoundError(404)

    with pytest.raises(NotFoundError):
        with_retries(missing, sleep=lambda s: None)
    assert calls == [1]


def test_default_session_is_offline():
    assert isinstance(default_session(), OfflineSession)
    with pytest.raises(TransportError):
        default_session().request("GET", "https://example.invalid/")
    assert build_url("https://h/x", {"a": 1, "b": None}) == "https://h/x?a=1"
