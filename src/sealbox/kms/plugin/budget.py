"""How long a backend call may take: the caller's deadline, less the time the answer needs.

kube-apiserver gives each KMS call a deadline (``kms.timeout``, 3 s by default). The plugin must
answer before it, so :func:`deadline_for` keeps a margin for the answer to travel back
(:data:`ANSWER_MARGIN_SECONDS`, at most a tenth of the time) and :func:`within` gives the
backend call the rest: it runs the call under that deadline (:func:`~sealbox.kms.backends.
call_deadline`, so network backends fit their requests into it) and stops waiting for it when
the deadline passes, with :class:`~sealbox.errors.BackendUnavailable`.

A timer costs more than the local backend's whole AES-GCM, and that backend answers in place,
without ever waiting. So :func:`within` first runs the call up to its first wait: a call that
finishes there needs no timer; only one that waits is awaited under ``asyncio.timeout``, from
where it stands (:class:`_Resumed`, which is ``await`` picked up after the first step).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any, Generic, TypeVar

from sealbox.errors import BackendUnavailable
from sealbox.kms.backends import call_deadline

__all__ = ["ANSWER_MARGIN_SECONDS", "deadline_for", "within"]

T = TypeVar("T")
ANSWER_MARGIN_SECONDS = 0.2


def deadline_for(timeout: float | None) -> float | None:
    """When a backend's answer is due (``time.monotonic()`` seconds) for a caller with
    ``timeout`` seconds left; ``None`` for a caller without a deadline."""
    if timeout is None:
        return None
    return time.monotonic() + timeout - min(ANSWER_MARGIN_SECONDS, timeout / 10)


async def within(label: str, work: Callable[[], Awaitable[T]], deadline: float | None) -> T:
    """``work()`` (a call on the backend ``label`` names), given up when ``deadline`` passes.

    Raises:
        BackendUnavailable: no answer before the deadline; or whatever ``work`` raises.
    """
    if deadline is None:
        return await work()
    with call_deadline(deadline):
        pending = work()
        if isinstance(pending, CoroutineType):  # a native coroutine: step it (cheap check)
            try:
                first = pending.send(None)
            except StopIteration as done:  # answered in place: there was nothing to time
                result: T = done.value
                return result
            pending = _Resumed(pending, first)
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())) as scope:
                return await pending
        except TimeoutError:
            if not scope.expired():
                raise
            raise BackendUnavailable(f"{label}: no answer before the caller's deadline") from None


class _Resumed(Generic[T]):
    """A coroutine whose first step already ran and yielded ``first``: awaiting this goes on
    awaiting the coroutine from there, as ``await`` would have (PEP 380's delegation: what the
    task sends or throws in goes to the coroutine, what it yields goes to the task)."""

    __slots__ = ("_coroutine", "_first")

    def __init__(self, coroutine: Coroutine[Any, Any, T], first: object) -> None:
        self._coroutine = coroutine
        self._first = first

    def __await__(self) -> Generator[Any, Any, T]:
        coroutine, value = self._coroutine, self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # a cancellation, the timeout's among them
                try:
                    value = coroutine.throw(exc)
                except StopIteration as done:
                    result: T = done.value
                    return result
            else:
                try:
                    value = coroutine.send(sent)
                except StopIteration as done:
                    result = done.value
                    return result
