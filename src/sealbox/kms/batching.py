"""Group commit onto a backend's single dedicated thread (PKCS#11).

Handing each call to another thread and back costs two wake-ups, and on a busy machine each
wake-up waits for the scheduler. So calls queued during one event-loop iteration (gRPC hands the
loop several requests at once under load) wake the thread once, at the end of that iteration;
the thread takes every call queued so far, runs them back to back, and hands all results to the
event loop with a single wake-up. Calls still run only on that thread, in arrival order; nothing
runs on the event loop, and a lone call waits for no one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

__all__ = ["BatchingRunner"]

T = TypeVar("T")
_Call = tuple[Callable[..., Any], tuple[object, ...], "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class BatchingRunner:
    """Runs calls on ``executor`` (one worker thread) in batches; awaitable from the loop."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._lock = threading.Lock()
        self._pending: list[_Call] = []
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._loop = loop
            self._pending.append((fn, args, future))
            start = not self._draining
            self._draining = True
        if start:
            loop.call_soon(self._start_drain)
        return await future

    def _start_drain(self) -> None:
        try:
            self._executor.submit(self._drain)
        except BaseException as exc:  # executor shut down: fail what is queued, do not hang
            with self._lock:
                batch, self._pending = self._pending, []
                self._draining = False
            _deliver([(future, None, exc) for _, _, future in batch])

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                loop = self._loop
                if not batch:
                    self._draining = False
                    return
            outcomes: list[_Outcome] = []
            for fn, args, future in batch:
                try:
                    outcomes.append((future, fn(*args), None))
                except BaseException as exc:  # delivered to the awaiting caller
                    outcomes.append((future, None, exc))
            assert loop is not None
            loop.call_soon_threadsafe(_deliver, outcomes)


def _deliver(outcomes: list[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
