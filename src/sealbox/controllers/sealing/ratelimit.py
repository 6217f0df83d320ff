"""GCRA rate limiting for ``/v1/verify``, with upstream's numbers and answers.

Upstream wraps ``/v1/verify`` in throttled's ``HTTPRateLimiter`` (GCRA, ``--rate-limit`` 2 per
second, ``--rate-limit-burst`` 2, keyed by the path and ``X-Forwarded-For``): a client may send
``burst + 1`` requests at once, then one per ``1/rate`` seconds; the next one is answered
``429 Too Many Requests`` ("limit exceeded") with ``Retry-After``. This is the same algorithm
(generic cell rate: one "theoretical arrival time" per key), so clients see the same limits and
headers. Keys expire once their arrival time has passed; at most ``max_keys`` are kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["GCRALimiter", "RateLimitResult"]


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """One decision; ``retry_after`` is -1 unless limited (throttled's ``RateLimitResult``)."""

    limited: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` and ``Retry-After`` headers throttled sends."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_after)),
        }
        if self.retry_after >= 0:
            headers["Retry-After"] = str(math.ceil(self.retry_after))
        return headers


class GCRALimiter:
    """``rate`` requests per second per key, after a burst of ``burst + 1``."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 65536,
    ) -> None:
        if rate <= 0 or burst < 0:
            raise ValueError("rate must be positive and burst at least 0")
        self.limit = burst + 1
        self._interval = 1.0 / rate
        self._tolerance = self._interval * self.limit
        self._clock = clock
        self._max_keys = max_keys
        self._arrivals: dict[Hashable, float] = {}

    def check(self, key: Hashable) -> RateLimitResult:
        """Count one request for ``key`` unless it is over the limit; say which."""
        now = self._clock()
        arrival = max(self._arrivals.get(key, now), now)
        new_arrival = arrival + self._interval
        allow_at = new_arrival - self._tolerance
        if now < allow_at:
            return RateLimitResult(True, self.limit, 0, arrival - now, allow_at - now)
        self._remember(key, new_arrival, now)
        ttl = new_arrival - now
        spare = self._tolerance - ttl
        remaining = int(spare / self._interval) if spare > -self._interval else 0
        return RateLimitResult(False, self.limit, remaining, ttl, -1.0)

    def _remember(self, key: Hashable, arrival: float, now: float) -> None:
        self._arrivals[key] = arrival
        if len(self._arrivals) > self._max_keys:
            self._arrivals = {k: t for k, t in self._arrivals.items() if t > now}
            while len(self._arrivals) > self._max_keys:
                del self._arrivals[next(iter(self._arrivals))]
