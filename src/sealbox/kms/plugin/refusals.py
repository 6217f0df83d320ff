"""Warnings about refused KMS calls that cannot flood the log.

Every Encrypt or Decrypt the plugin refuses (a malformed request, a ciphertext that does not
unwrap, a key_id nobody holds) is worth a warning: it is how a tampered etcd record or a
misrouted provider shows up. But a client that retries a bad request in a loop would write a
line per call, so :class:`RefusalLog` writes:

* the first refusal of each (operation, backend, reason) at once, then at most one line per
  ``interval`` seconds for it, with ``suppressed``: how many identical refusals it held back;
* at most ``burst`` lines per ``interval`` in all, so that reasons that keep changing (a
  different key_id in each request) cannot flood it either; ``dropped`` on the next line says
  how many refusals that limit held back.

A line carries the operation, the backend's label and the reason (the error's own message,
which never holds plaintext, ciphertext or credentials), never request data.
:class:`~sealbox.kms.plugin.metrics.Metrics` counts every refusal, logged or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RefusalLog"]

_REASON_CHARS = 300


class RefusalLog:
    """Rate-limited warnings about refused calls (see the module docstring)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 10.0,
        burst: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}  # → (logged at, held)
        self._window_start = float("-inf")
        self._in_window = 0
        self._dropped = 0

    def refused(self, operation: str, backend: str, reason: str) -> None:
        """Note one refused call; logs a warning unless the limits above hold it back."""
        now = self._clock()
        key = (operation, backend, reason)
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return
        if now - self._window_start >= self.interval:
            self._window_start, self._in_window = now, 0
            self._forget_before(now - self.interval)
        if self._in_window >= self.burst:
            self._dropped += 1
            return
        self._in_window += 1
        self._last[key] = (now, 0)
        dropped, self._dropped = self._dropped, 0
        self._log.warning(
            "%s refused",
            operation,
            extra={
                "operation": operation,
                "backend": backend,
                "reason": " ".join(reason.split())[:_REASON_CHARS],
                "suppressed": last[1] if last is not None else 0,
                "dropped": dropped,
            },
        )

    def _forget_before(self, cutoff: float) -> None:
        """Drop reasons last logged before ``cutoff``: the table holds one window's worth."""
        stale = [key for key, (logged_at, _) in self._last.items() if logged_at < cutoff]
        for key in stale:
            del self._last[key]
