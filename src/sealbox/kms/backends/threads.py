"""Serve a blocking backend without blocking the plugin: its calls run on threads of its own.

:class:`ThreadedBackend` turns a :class:`~.base.BlockingBackend` (a network SDK that waits in
``requests`` or ``botocore``) into a :class:`~.base.Backend`: every call runs on a thread pool
sized to what the backend is safe for, so the gRPC event loop keeps answering while a call waits.
Each backend gets its own pool: a slow Vault never delays an AWS KMS call behind it.

A call runs with the caller's context, so the backend sees the call's deadline
(:mod:`.deadline`) on its thread and sizes its network timeouts to it. A call that waited for a
free thread until its deadline passed fails at once, without touching the backend: calls must not
pile up behind a backend whose threads all wait on a dead server.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sealbox.errors import BackendUnavailable
from sealbox.kms import Wrapped
from sealbox.kms.backends.base import BlockingBackend
from sealbox.kms.backends.deadline import time_left

__all__ = ["ThreadedBackend"]

T = TypeVar("T")


class ThreadedBackend:
    """A :class:`~.base.Backend` whose calls run ``backend``'s methods on ``threads`` threads."""

    def __init__(self, backend: BlockingBackend, *, threads: int) -> None:
        self.backend = backend
        self.kind = backend.kind
        self.label = backend.label
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, threads), thread_name_prefix=f"kms-{backend.kind}"
        )

    async def current_key_id(self) -> str:
        return await self._run(self.backend.current_key_id)

    async def wrap(self, plaintext: bytes) -> Wrapped:
        return await self._run(lambda: self.backend.wrap(plaintext))

    async def unwrap(
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        return await self._run(lambda: self.backend.unwrap(ciphertext, key_id, annotations))

    async def _run(self, call: Callable[[], T]) -> T:
        context = contextvars.copy_context()  # the call's deadline, among others
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, context.run, self._in_time, call
        )

    def _in_time(self, call: Callable[[], T]) -> T:
        left = time_left()
        if left is not None and left <= 0:
            raise BackendUnavailable(
                f"{self.label}: every thread was busy until the caller's deadline passed"
            )
        return call()

    def owns(self, key_id: str) -> bool:
        return self.backend.owns(key_id)

    def close(self) -> None:
        """Stop taking calls (queued ones are cancelled), then close the backend."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.backend.close()

    def __repr__(self) -> str:
        return f"ThreadedBackend({self.backend!r})"
