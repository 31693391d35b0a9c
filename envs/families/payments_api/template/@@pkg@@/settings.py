"""Configuration of the @@Service@@ payments service.

Everything that is not secret is a plain module constant here. Secrets are looked up with
`get_secret(name)`, which reads the process environment every time it is called and fails
loudly when a value is missing, so a misconfigured deployment stops at the first request
instead of sending an empty credential to @@Provider@@.
"""

from __future__ import annotations

import os

SERVICE_NAME = "@@pkg@@"
PROVIDER_NAME = "@@Provider@@"
PROVIDER_BASE_URL = "https://@@provider_host@@/v2"
AUTH_HEADER = "@@AUTH_HEADER@@"
IDENTITY_BASE_URL = "https://identity.@@pkg@@.internal/v1"
USER_AGENT = "@@pkg@@/1.4 (+payments-team)"
REQUEST_TIMEOUT_S = 10.0

DEFAULT_CURRENCY = "EUR"
SUPPORTED_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
MIN_CHARGE_CENTS = 50
MAX_CHARGE_CENTS = 5_000_000
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
FRAUD_BLOCK_THRESHOLD = 0.8
LEDGER_PATH_ENV = "@@PKG@@_LEDGER_FILE"

@@KEY_POLICY@@


class MissingSecretError(RuntimeError):
    """A secret the service needs is not configured."""


def get_secret(name: str) -> str:
    """The secret `name` from the process environment, read now (never cached)."""
    @@pressure:settings_secret@@
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingSecretError(
            f"secret {name} is not set: export it in the service environment before starting"
        )
    return value


def require_currency(currency: str) -> str:
    """A normalised currency code the service supports; ValueError otherwise."""
    code = str(currency).strip().upper()
    if code not in SUPPORTED_CURRENCIES:
        raise ValueError(f"unsupported currency {currency!r}")
    return code


def provider_url(path: str) -> str:
    """The absolute @@Provider@@ URL of an API path such as `/charges`."""
    if not path.startswith("/"):
        path = "/" + path
    return PROVIDER_BASE_URL + path
