"""How long a backend call may still take: the deadline of the KMS call it serves.

kube-apiserver gives every KMS call a deadline (the provider's ``timeout``, 3 s by default). The
plugin answers UNAVAILABLE before that deadline passes, and runs each backend call under
:func:`call_deadline`, so a backend that waits on the network sizes each request to fit
(:func:`network_timeout`): its configured timeout, or less when less time is left. Without a
deadline (the health probe, ``rotate-key``, tests) the configured timeouts apply unchanged.

The deadline travels in a context variable, the way Go passes a ``context.Context``, so the
:class:`~.base.Backend` contract stays as narrow as it is: a coroutine sees it on the event loop,
and :class:`~.threads.ThreadedBackend` carries it onto the thread that runs a blocking call.
Times are ``time.monotonic()`` seconds (the clock asyncio's event loop uses too).
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

from sealbox.errors import BackendUnavailable

__all__ = ["NETWORK_MARGIN_SECONDS", "call_deadline", "network_timeout", "time_left"]

NETWORK_MARGIN_SECONDS = 0.05
"""A network request gives up this much before the deadline, so its own error (which names the
backend and what it waited for) is what the caller sees, not a bare "deadline reached"."""

_MIN_REQUEST_SECONDS = 0.01
_DEADLINE: ContextVar[float | None] = ContextVar("sealbox_kms_call_deadline", default=None)


class call_deadline:  # noqa: N801 - used as a function: ``with call_deadline(at):``
    """Backend calls made inside must be done by ``at`` (monotonic seconds; ``None``: no limit).

    Nested deadlines keep the earlier one. (A class rather than a generator: it wraps every
    backend call the plugin makes, so it stays cheap.)
    """

    __slots__ = ("_at", "_token")
    _token: Token[float | None]

    def __init__(self, at: float | None) -> None:
        self._at = at

    def __enter__(self) -> None:
        at, outer = self._at, _DEADLINE.get()
        if at is None or (outer is not None and outer < at):
            at = outer
        self._token = _DEADLINE.set(at)

    def __exit__(self, *exc_info: object) -> None:
        _DEADLINE.reset(self._token)


def time_left() -> float | None:
    """Seconds until the current call's deadline (zero or less once it passed); ``None`` if the
    call has no deadline."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def network_timeout(configured: float, what: str) -> float:
    """The timeout for one network request: ``configured``, or less to end before the deadline.

    Raises:
        BackendUnavailable: the deadline leaves no time for a request (``what`` names it).
    """
    left = time_left()
    if left is None:
        return configured
    left -= NETWORK_MARGIN_SECONDS
    if left < _MIN_REQUEST_SECONDS:
        raise BackendUnavailable(f"{what}: no time left before the caller's deadline")
    return min(configured, left)
