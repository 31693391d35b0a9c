import io
import json

from @@pkg@@.cli import main


def test_depot_units_table(session):
    session.respond("GET", "/units", {"data": [{"unit_no": "U-1", "label": "Van 1",
                                                "reg": "B-1", "state": "active"}]})
    out = io.StringIO()
    assert main(["depot-units"], session=session, out=out) == 0
    assert out.getvalue().split()[:2] == ["U-1", "Van"]


def test_vehicles_json(session):
    session.respond("GET", "/vehicles", {"items": [{"id": "V-9", "name": "Truck",
                                                    "plate": "X"}]})
    out = io.StringIO()
    assert main(["--json", "vehicles"], session=session, out=out) == 0
    assert json.loads(out.getvalue())["id"] == "V-9"


def test_errors_give_status_1(session, capsys):
    assert main(["depot-status", "U-404"], session=session, out=io.StringIO()) == 1
    assert "404" in capsys.readouterr().err
