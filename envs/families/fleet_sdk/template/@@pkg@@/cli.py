"""`@@pkg@@` command line: quick looks at the fleet from a terminal.

    @@pkg@@ vehicles [--state STATE]          vehicles from the cloud API
    @@pkg@@ trips VEHICLE --from D --to D     trips of one vehicle
    @@pkg@@ depot-units                       units on the @@legacy_word@@
    @@pkg@@ depot-status VEHICLE              position of one unit on the @@legacy_word@@

Add `--json` before the command for one JSON object per line instead of a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, TextIO

from . import __version__
from .client import @@Client@@
from .errors import SdkError
from .legacy import @@Legacy@@
from .models import VEHICLE_STATES, format_timestamp
from .transport import Session, default_session


def _emit(rows: Iterable[dict[str, Any]], columns: Sequence[str], out: TextIO,
          as_json: bool) -> int:
    """Print rows as a fixed-width table (or JSON lines); return how many were printed."""
    count = 0
    for row in rows:
        if as_json:
            out.write(json.dumps(row, sort_keys=True, default=str) + "\n")
        else:
            out.write("  ".join(f"{row.get(c, '')!s:<14}" for c in columns).rstrip() + "\n")
        count += 1
    return count


def _cmd_vehicles(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    client = @@Client@@(session=session)
    rows = [v.to_api() for v in client.list_vehicles(state=args.state)]
    _emit(rows, ["id", "name", "plate", "state"], out, args.json)
    return 0


def _cmd_trips(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    client = @@Client@@(session=session)
    trips = client.list_trips(args.vehicle, args.start, args.end)
    _emit([t.to_api() for t in trips], ["id", "started_at", "ended_at", "distance_km"], out,
          args.json)
    return 0


def _cmd_depot_units(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    depot = @@Legacy@@(session=session, depot=args.depot)
    @@pressure:cli_depot@@
    rows = [v.to_api() for v in depot.list_vehicles()]
    _emit(rows, ["id", "name", "plate", "state"], out, args.json)
    return 0


def _cmd_depot_status(args: argparse.Namespace, session: Session, out: TextIO) -> int:
    depot = @@Legacy@@(session=session, depot=args.depot)
    status = depot.vehicle_status(args.vehicle)
    row = {"id": status.@@vid@@, "online": status.online,
           "last_seen": format_timestamp(status.last_seen), "lat": status.lat,
           "lon": status.lon}
    _emit([row], ["id", "online", "last_seen", "lat", "lon"], out, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="@@pkg@@", description="@@Product@@ fleet tools")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--depot", default=None, help="depot code sent to the @@legacy_word@@")
    commands = parser.add_subparsers(dest="command", required=True)

    vehicles = commands.add_parser("vehicles", help="list vehicles (cloud)")
    vehicles.add_argument("--state", choices=VEHICLE_STATES)
    vehicles.set_defaults(handler=_cmd_vehicles)

    trips = commands.add_parser("trips", help="list trips of a vehicle (cloud)")
    trips.add_argument("vehicle")
    trips.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
    trips.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
    trips.set_defaults(handler=_cmd_trips)

    units = commands.add_parser("depot-units", help="list units (@@legacy_word@@)")
    units.set_defaults(handler=_cmd_depot_units)

    status = commands.add_parser("depot-status", help="status of a unit (@@legacy_word@@)")
    status.add_argument("vehicle")
    status.set_defaults(handler=_cmd_depot_status)
    return parser


def main(argv: Sequence[str] | None = None, *, session: Session | None = None,
         out: TextIO | None = None) -> int:
    """Run one command; return the process exit status (0 ok, 1 error)."""
    args = build_parser().parse_args(argv)
    session = session if session is not None else default_session()
    out = out if out is not None else sys.stdout
    try:
        return args.handler(args, session, out)
    except (SdkError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
