"""Per-key retry delays: exponential in the number of failures, capped, with jitter.

client-go's ``ItemExponentialFailureRateLimiter`` without the thundering herd: many keys that
fail together (the apiserver was down) spread their retries out instead of coming back at the
same instant. Pure: the random source is a parameter, so tests can pin it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """``base_seconds * 2**(failures-1)``, capped at ``max_seconds``, times ``1 ± jitter``."""

    base_seconds: float = 0.05
    max_seconds: float = 300.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.base_seconds <= self.max_seconds:
            raise ValueError("Backoff needs 0 < base_seconds <= max_seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError("Backoff jitter is a fraction in [0, 1)")

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``failures`` (1 for the first failure)."""
        exponent = min(max(failures, 1) - 1, 64)  # 2**64 * any base is past every cap
        raw = min(self.max_seconds, self.base_seconds * 2.0**exponent)
        return min(self.max_seconds, raw * (1.0 + self.jitter * (2.0 * rand() - 1.0)))
