import pytest

from @@pkg@@.errors import NotFoundError
from @@pkg@@.legacy import LEGACY_HOST, @@Legacy@@


def test_list_vehicles_reads_the_legacy_shape(session):
    session.respond("GET", "/units", {"data": [
        {"unit_no": "U-7", "label": "Van 7", "reg": "KA-FL 707", "state": "parked",
         "odo_km": 81234.5},
    ]})
    vehicles = @@Legacy@@(session=session).list_vehicles()
    assert [(v.@@vid@@, v.name, v.plate, v.state) for v in vehicles] == [
        ("U-7", "Van 7", "KA-FL 707", "parked")]
    assert vehicles[0].odometer_km == 81234.5
    assert [c.host for c in session.calls] == [LEGACY_HOST]


def test_vehicle_status_and_depot_header(session):
    session.respond("GET", "/units/U-7/status", {"unit_no": "U-7", "online": True,
                                                 "last_seen": 1714550400, "lat": 49.0,
                                                 "lon": 8.4, "speed": 42})
    status = @@Legacy@@(session=session, depot="KA1").vehicle_status("U-7")
    assert status.online is True and status.speed_kph == 42.0
    assert status.last_seen.year == 2024
    assert session.calls[0].headers["X-Depot"] == "KA1"
    assert session.calls[0].url.startswith("https://")


def test_unknown_unit_raises(session):
    with pytest.raises(NotFoundError):
        @@Legacy@@(session=session).vehicle_status("nope")
    with pytest.raises(ValueError):
        @@Legacy@@(session=session).vehicle_status("")
