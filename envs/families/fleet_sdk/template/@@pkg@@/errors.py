"""Exceptions raised by the SDK. Everything derives from SdkError."""

from __future__ import annotations


class SdkError(Exception):
    """Base class of every error the SDK raises."""


class TransportError(SdkError):
    """The request never got an HTTP answer (DNS, TLS, connection reset, timeout, offline)."""


class ApiError(SdkError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str = "", url: str = "") -> None:
        super().__init__(f"HTTP {status} from {url or 'server'}: {message}".rstrip(": "))
        self.status = status
        self.message = message
        self.url = url


class AuthError(ApiError):
    """401 or 403: the credentials were missing, wrong or not allowed to do this."""


class NotFoundError(ApiError):
    """404: no such vehicle, trip, driver or endpoint."""


class ConflictError(ApiError):
    """409: the resource changed or already exists."""


class RateLimited(ApiError):
    """429: too many requests; retry later."""


class ServerError(ApiError):
    """5xx: the server failed; usually worth a retry."""


def error_for_status(status: int, message: str = "", url: str = "") -> ApiError:
    """The ApiError subclass that matches an HTTP status."""
    if status in (401, 403):
        return AuthError(status, message, url)
    if status == 404:
        return NotFoundError(status, message, url)
    if status == 409:
        return ConflictError(status, message, url)
    if status == 429:
        return RateLimited(status, message, url)
    if status >= 500:
        return ServerError(status, message, url)
    return ApiError(status, message, url)
