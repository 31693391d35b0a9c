"""Data shapes shared by the cloud client, the @@legacy_word@@ client and the CLI.

The cloud API speaks ISO-8601 timestamps and `id` keys; the @@legacy_word@@ (FMS v1) speaks
epoch seconds and its own key names (`unit_no`, `reg`, ...). Each model knows both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

VEHICLE_STATES = ("active", "parked", "maintenance", "retired")


def parse_timestamp(value: str) -> datetime:
    """An ISO-8601 timestamp from the cloud API ('Z' accepted) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_timestamp(value: datetime) -> str:
    """An aware datetime as the cloud API writes it: '2024-05-01T08:30:00Z'."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(seconds: int | float) -> datetime:
    """Epoch seconds from the @@legacy_word@@ as an aware UTC datetime."""
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc)


def to_epoch(value: datetime | date) -> int:
    """A datetime (or a date, at midnight UTC) as epoch seconds for the @@legacy_word@@."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return int(value.timestamp())


@dataclass(frozen=True)
class Vehicle:
    """One vehicle of the fleet."""

    @@vid@@: str
    name: str
    plate: str
    state: str = "active"
    odometer_km: float = 0.0

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Vehicle:
        return cls(@@vid@@=str(data["id"]), name=data.get("name", ""),
                   plate=data.get("plate", ""), state=data.get("state", "active"),
                   odometer_km=float(data.get("odometer_km", 0.0)))

    @classmethod
    def from_legacy(cls, data: dict[str, Any]) -> Vehicle:
        return cls(@@vid@@=str(data["unit_no"]), name=data.get("label", ""),
                   plate=data.get("reg", ""), state=data.get("state", "active"),
                   odometer_km=float(data.get("odo_km", 0.0)))

    def to_api(self) -> dict[str, Any]:
        return {"id": self.@@vid@@, "name": self.name, "plate": self.plate,
                "state": self.state, "odometer_km": self.odometer_km}


@dataclass(frozen=True)
class VehicleStatus:
    """Where a vehicle is and whether it reports in."""

    @@vid@@: str
    online: bool
    last_seen: datetime
    lat: float
    lon: float
    speed_kph: float = 0.0

    @classmethod
    def from_legacy(cls, data: dict[str, Any]) -> VehicleStatus:
        return cls(@@vid@@=str(data["unit_no"]), online=bool(data.get("online", False)),
                   last_seen=from_epoch(data.get("last_seen", 0)),
                   lat=float(data.get("lat", 0.0)), lon=float(data.get("lon", 0.0)),
                   speed_kph=float(data.get("speed", 0.0)))


@dataclass(frozen=True)
class Trip:
    """One trip of one vehicle."""

    trip_id: str
    @@vid@@: str
    started_at: datetime
    ended_at: datetime
    distance_km: float
    driver_id: str | None = None

    @property
    def duration_minutes(self) -> float:
        return (self.ended_at - self.started_at).total_seconds() / 60.0

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Trip:
        return cls(trip_id=str(data["id"]), @@vid@@=str(data["vehicle"]),
                   started_at=parse_timestamp(data["started_at"]),
                   ended_at=parse_timestamp(data["ended_at"]),
                   distance_km=float(data.get("distance_km", 0.0)),
                   driver_id=data.get("driver"))

    @classmethod
    def from_legacy(cls, data: dict[str, Any], @@vid@@: str) -> Trip:
        return cls(trip_id=str(data["trip_no"]), @@vid@@=@@vid@@,
                   started_at=from_epoch(data["start"]), ended_at=from_epoch(data["end"]),
                   distance_km=float(data.get("km", 0.0)), driver_id=data.get("driver"))

    def to_api(self) -> dict[str, Any]:
        return {"id": self.trip_id, "vehicle": self.@@vid@@,
                "started_at": format_timestamp(self.started_at),
                "ended_at": format_timestamp(self.ended_at),
                "distance_km": self.distance_km, "driver": self.driver_id}
