"""Client for the @@Provider@@ payments API: charges.

Every request carries the provider key in the `settings.AUTH_HEADER` header. Clients take an
optional `transport` (see transport.py); without one they use the process default.
"""

from __future__ import annotations

from typing import Any

from . import settings
from .models import validate_amount
from .transport import Response, Transport, resolve


class @@ProviderError@@(RuntimeError):
    """@@Provider@@ answered with an error status."""

    def __init__(self, status: int, body: Any):
        detail = body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            detail = body["error"].get("message", body["error"])
        super().__init__(f"@@Provider@@ error {status}: {detail}")
        self.status = status
        self.body = body


def check(response: Response) -> Any:
    """The body of a successful response; raises @@ProviderError@@ for any other status."""
    if not response.ok:
        raise @@ProviderError@@(response.status, response.body)
    return response.body


class @@Gateway@@:
    """Creates, reads and captures charges."""

    def __init__(self, transport: Transport | None = None,
                 base_url: str = settings.PROVIDER_BASE_URL):
        self.transport = transport
        self.base_url = base_url.rstrip("/")

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        @@pressure:gateway_auth@@
        headers = {
            settings.AUTH_HEADER: @@KEY_EXPR@@,
            "User-Agent": settings.USER_AGENT,
            "Accept": "application/json",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _send(self, method: str, path: str, body: Any = None,
              idempotency_key: str | None = None) -> Any:
        response = resolve(self.transport).send(
            method, f"{self.base_url}{path}", self._headers(idempotency_key), body
        )
        return check(response)

    def create_charge(self, amount_cents: int, currency: str, source: str,
                      reference: str) -> dict:
        """Charge a payment source (a card token); the reference makes retries idempotent."""
        amount_cents, currency = validate_amount(amount_cents, currency)
        if not source:
            raise ValueError("a payment source is required")
        body = {"amount_cents": amount_cents, "currency": currency, "source": source,
                "reference": reference}
        return self._send("POST", "/charges", body, idempotency_key=reference)

    def get_charge(self, charge_id: str) -> dict:
        """The charge as the provider knows it now."""
        return self._send("GET", f"/charges/{charge_id}")

    def capture_charge(self, charge_id: str, amount_cents: int | None = None) -> dict:
        """Capture an authorised charge (all of it, or `amount_cents` of it)."""
        body = {} if amount_cents is None else {"amount_cents": amount_cents}
        return self._send("POST", f"/charges/{charge_id}/capture", body,
                          idempotency_key=f"capture-{charge_id}")
