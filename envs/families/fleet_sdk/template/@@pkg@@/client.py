"""Client for the @@Product@@ cloud API (https://@@cloud_host@@/v2).

Every request carries `Authorization: Bearer <token>`. @@TOKEN_POLICY@@
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from . import USER_AGENT
from .errors import SdkError
from .models import (
    VEHICLE_STATES,
    Trip,
    Vehicle,
)
from .retry import RetryPolicy, with_retries
from .transport import DEFAULT_TIMEOUT, Response, Session, default_session

DEFAULT_BASE_URL = "https://@@cloud_host@@/v2"
BASE_URL_ENV = "@@PKG@@_BASE_URL"
TOKEN_ENV = "@@PKG@@_API_TOKEN"


class ConfigError(SdkError):
    """The SDK is missing configuration it needs (for example the API token)."""


def token_from_env() -> str:
    """The API token from $@@PKG@@_API_TOKEN, read now (tokens are rotated without restarts)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"set {TOKEN_ENV} to your @@Product@@ API token")
    return token


class @@Client@@:
    """The @@Product@@ cloud API: vehicles and trips."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        session: Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self.session = session if session is not None else default_session()
        self.timeout = timeout
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.sleep = sleep

    def _request(self, method: str, path: str, *, token: str,
                 params: dict[str, Any] | None = None, json: Any = None) -> Response:
        """One authenticated call; GETs are retried on 5xx, 429 and transport errors."""
        @@pressure:cloud_request@@
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "User-Agent": USER_AGENT}

        def call() -> Response:
            response = self.session.request(method, self.base_url + path, verify=self.verify,
                                            timeout=self.timeout, headers=headers,
                                            params=params, json=json)
            return response.raise_for_status()

        if method.upper() == "GET":
            return with_retries(call, policy=self.retry, sleep=self.sleep)
        return call()

    def list_vehicles(self, state: str | None = None) -> list[Vehicle]:
        """Every vehicle, optionally only those in one state."""
        if state is not None and state not in VEHICLE_STATES:
            raise ValueError(f"unknown state {state!r}")
        @@pressure:cloud_list@@
        data = self._request("GET", "/vehicles", token=@@API_TOKEN@@,
                             params={"state": state}).json()
        return [Vehicle.from_api(item) for item in data["items"]]

    def get_vehicle(self, @@vid@@: str) -> Vehicle:
        """One vehicle by id (NotFoundError when unknown)."""
        @@pressure:cloud_get_vehicle@@
        data = self._request("GET", f"/vehicles/{@@vid@@}", token=@@API_TOKEN@@).json()
        return Vehicle.from_api(data)

    def list_trips(self, @@vid@@: str, start: date, end: date) -> list[Trip]:
        """Trips of one vehicle between two dates (inclusive), oldest first."""
        if end < start:
            raise ValueError("end is before start")
        params = {"vehicle": @@vid@@, "from": start.isoformat(), "to": end.isoformat()}
        data = self._request("GET", "/trips", token=@@API_TOKEN@@, params=params).json()
        trips = [Trip.from_api(item) for item in data["items"]]
        return sorted(trips, key=lambda trip: trip.started_at)

    def upload_trip(self, trip: Trip) -> str:
        """Create a trip in the cloud; return the id the cloud gave it."""
        @@pressure:cloud_upload@@
        data = self._request("POST", "/trips", token=@@API_TOKEN@@, json=trip.to_api()).json()
        return str(data["id"])
