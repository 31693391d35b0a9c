from datetime import date

import pytest

from @@pkg@@.client import @@Client@@
from @@pkg@@.errors import AuthError, ServerError
from @@pkg@@.models import Trip
from @@pkg@@.retry import RetryPolicy

TRIP = {"id": "T-1", "vehicle": "V-1", "started_at": "2024-05-01T08:00:00Z",
        "ended_at": "2024-05-01T09:30:00Z", "distance_km": 61.5, "driver": "D-4"}


def test_list_vehicles_sends_bearer_token(session):
    session.respond("GET", "/vehicles", {"items": [{"id": "V-1", "name": "Truck 1",
                                                    "plate": "B-TK 1"}]})
    vehicles = @@Client@@(session=session).list_vehicles()
    assert [v.@@vid@@ for v in vehicles] == ["V-1"]
    call = session.calls[0]
    assert call.host == "@@cloud_host@@"
    assert call.headers["Authorization"].startswith("Bearer ")
    assert call.params == {"state": None}


def test_list_trips_sorted_and_validated(session):
    later = dict(TRIP, id="T-2", started_at="2024-05-02T08:00:00Z",
                 ended_at="2024-05-02T08:10:00Z")
    session.respond("GET", "/trips", {"items": [later, TRIP]})
    trips = @@Client@@(session=session).list_trips("V-1", date(2024, 5, 1), date(2024, 5, 2))
    assert [t.trip_id for t in trips] == ["T-1", "T-2"]
    assert trips[0].duration_minutes == 90.0
    with pytest.raises(ValueError):
        @@Client@@(session=session).list_trips("V-1", date(2024, 5, 2), date(2024, 5, 1))


def test_get_is_retried_on_server_errors(session):
    session.respond("GET", "/vehicles/V-1", (503, {"error": "busy"}), {"id": "V-1"})
    sleeps = []
    client = @@Client@@(session=session, sleep=sleeps.append, retry=RetryPolicy(attempts=3))
    assert client.get_vehicle("V-1").@@vid@@ == "V-1"
    assert len(session.calls) == 2 and sleeps == [0.5]


def test_post_is_not_retried(session):
    session.respond("POST", "/trips", {"error": "busy"}, status=503)
    trip = Trip.from_api(TRIP)
    with pytest.raises(ServerError):
        @@Client@@(session=session, sleep=lambda s: None).upload_trip(trip)
    assert len(session.calls) == 1


def test_auth_errors_are_not_retried(session):
    session.respond("GET", "/vehicles", {"error": "bad token"}, status=401)
    with pytest.raises(AuthError):
        @@Client@@(session=session, sleep=lambda s: None).list_vehicles()
    assert len(session.calls) == 1
