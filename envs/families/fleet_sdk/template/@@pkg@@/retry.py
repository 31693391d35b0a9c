"""Retries with exponential backoff for idempotent requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import RateLimited, ServerError, TransportError

T = TypeVar("T")
RETRYABLE: tuple[type[Exception], ...] = (TransportError, ServerError, RateLimited)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry."""

    attempts: int = 3
    backoff: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0

    def delays(self) -> list[float]:
        """The pauses between attempts (one fewer than `attempts`)."""
        return [min(self.backoff * self.factor ** i, self.max_delay)
                for i in range(max(self.attempts - 1, 0))]


NO_RETRY = RetryPolicy(attempts=1)


def with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry_on: tuple[type[Exception], ...] = RETRYABLE,
) -> T:
    """Run `call`; on a retryable error wait and try again, up to `policy.attempts` times.

    The last error is re-raised when every attempt failed. Errors not in `retry_on`
    (404, 401, bad input) are raised at once.
    """
    policy = policy or RetryPolicy()
    delays = policy.delays()
    for attempt in range(policy.attempts):
        try:
            return call()
        except retry_on:
            if attempt >= len(delays):
                raise
            sleep(delays[attempt])
    raise AssertionError("unreachable")  # attempts >= 1 always returns or raises
