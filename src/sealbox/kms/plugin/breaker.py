"""Fail fast behind a backend that was just found unavailable, instead of queueing calls on it.

A backend that hangs holds every call sent to it until the call's deadline, on its threads, its
worker or its connection pool; calls that arrive meanwhile would queue behind them. So each
backend has a :class:`Breaker`, opened by the last failure that found the backend unavailable
(a real call's, or for the primary the health probe's):

* for :data:`FAIL_FAST_SECONDS` after that failure, calls are answered UNAVAILABLE at once,
  without touching the backend: kube-apiserver gets a prompt answer it may retry;
* after that, one call at a time goes through as a trial; the others still fail fast. A trial the
  backend answers (even with a refusal of the request) closes the breaker; one that finds it
  unavailable opens it again for another :data:`FAIL_FAST_SECONDS`.

The health probe never waits for the breaker: it keeps probing, and its outcome opens or closes
the primary's breaker like a call's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sealbox.errors import BackendUnavailable

__all__ = ["FAIL_FAST_SECONDS", "Breaker"]

FAIL_FAST_SECONDS = 1.0
_REASON_CHARS = 300


@dataclass(slots=True)
class Breaker:
    """The fail-fast state of one backend. Used from the event loop's thread only."""

    label: str
    hold: float = FAIL_FAST_SECONDS
    clock: Callable[[], float] = time.monotonic
    _failed_at: float | None = field(default=None, init=False)  # None: closed
    _reason: str = field(default="", init=False)
    _trial: bool = field(default=False, init=False)

    @property
    def closed(self) -> bool:
        return self._failed_at is None

    def admit(self) -> bool:
        """Let a call through; True if it is the trial after an outage (end it with
        :meth:`trial_over`).

        Raises:
            BackendUnavailable: the call must fail fast: the backend failed a moment ago, or a
                trial is under way.
        """
        failed_at = self._failed_at
        if failed_at is None:
            return False
        if self._trial or self.clock() - failed_at < self.hold:
            raise BackendUnavailable(f"{self._reason} (failing fast until it answers again)")
        self._trial = True
        return True

    def trial_over(self) -> None:
        self._trial = False

    def failed(self, exc: BaseException) -> None:
        """The backend was found unavailable (``exc`` says how): open, or open again."""
        self._failed_at = self.clock()
        self._reason = " ".join(str(exc).split())[:_REASON_CHARS]

    def answered(self) -> None:
        """The backend answered, whatever it said: close."""
        self._failed_at = None
        self._reason = ""
