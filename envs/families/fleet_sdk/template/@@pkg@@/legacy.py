"""Client for the @@legacy_word@@ at https://@@legacy_host@@ (the on-prem FMS v1 API).

Depots that have not migrated to the cloud still run the @@legacy_word@@; its API is older
(epoch timestamps, `unit_no` instead of `id`, lists wrapped in `{"data": [...]}`) and it
answers slowly. It has no authentication of its own: it is reachable only from depot networks.

TLS: the @@legacy_word@@ presents a self-signed certificate. @@LEGACY_TLS_NOTE@@
`_request` takes `verify` as a required argument, so every call site states it explicitly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import USER_AGENT
from .models import (
    Vehicle,
    VehicleStatus,
)
from .retry import RetryPolicy
from .transport import Response, Session, default_session

LEGACY_HOST = "@@legacy_host@@"
LEGACY_BASE_URL = f"https://{LEGACY_HOST}/fms/api/v1"
LEGACY_TIMEOUT = 30.0


class @@Legacy@@:
    """The @@legacy_word@@'s FMS v1 API."""

    def __init__(
        self,
        *,
        base_url: str = LEGACY_BASE_URL,
        session: Session | None = None,
        timeout: float = LEGACY_TIMEOUT,
        depot: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else default_session()
        self.timeout = timeout
        self.depot = depot
        self.retry = retry or RetryPolicy()
        self.sleep = sleep

    def _request(self, method: str, path: str, *, verify: bool | str,
                 params: dict[str, Any] | None = None, json: Any = None) -> Response:
        """One call to the FMS v1 API; raises the matching ApiError on an error status."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.depot:
            headers["X-Depot"] = self.depot
        @@pressure:legacy_request@@
        response = self.session.request(method, self.base_url + path, verify=verify,
                                        timeout=self.timeout, headers=headers, params=params,
                                        json=json)
        return response.raise_for_status()

    def list_vehicles(self) -> list[Vehicle]:
        """Every unit registered on this depot server."""
        @@pressure:legacy_list@@
        data = self._request("GET", "/units", verify=@@LEGACY_VERIFY@@).json()
        return [Vehicle.from_legacy(item) for item in data["data"]]

    def vehicle_status(self, @@vid@@: str) -> VehicleStatus:
        """Position and liveness of one unit (NotFoundError when unknown)."""
        if not @@vid@@:
            raise ValueError("@@vid@@ is empty")
        @@pressure:legacy_status@@
        data = self._request("GET", f"/units/{@@vid@@}/status", verify=@@LEGACY_VERIFY@@).json()
        return VehicleStatus.from_legacy(data)
