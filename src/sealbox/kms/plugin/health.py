"""The shared, cached health check behind Status, /healthz and /readyz.

A background task wraps and unwraps a probe value through the primary backend every
``interval`` seconds and records the key_id it reports, so a paid or rate-limited KMS is called
once per interval, not once per apiserver poll. Real calls that find the backend unreachable
mark it unhealthy at once; only a successful probe marks it healthy again. Readiness follows
this check; liveness does not (a disabled key must not get the plugin restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sealbox.errors import KMSPluginError, SealboxError
from sealbox.kms.backends import Backend
from sealbox.kms.plugin.metrics import Metrics

__all__ = ["HealthMonitor", "HealthSnapshot"]

log = logging.getLogger("sealbox.kms.health")
_PROBE_BYTES = 32
_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    healthy: bool
    key_id: str
    error: str
    checked_at: float


class HealthMonitor:
    """Probes the primary (and decrypt-only) backends on an interval; answers from the cache."""

    def __init__(
        self,
        primary: Backend,
        decrypt_only: Sequence[Backend],
        *,
        interval: float,
        metrics: Metrics,
    ) -> None:
        self.primary = primary
        self.decrypt_only = tuple(decrypt_only)
        self.interval = interval
        self._metrics = metrics
        self._snapshot = HealthSnapshot(False, "", "not probed yet", 0.0)
        self._task: asyncio.Task[None] | None = None

    @property
    def snapshot(self) -> HealthSnapshot:
        return self._snapshot

    async def probe(self) -> HealthSnapshot:
        """One round trip through the primary; updates and returns the snapshot."""
        try:
            key_id = await self.primary.current_key_id()
            probe = os.urandom(_PROBE_BYTES)
            wrapped = await self.primary.wrap(probe)
            unwrapped = await self.primary.unwrap(
                wrapped.ciphertext, wrapped.key_id, wrapped.annotations
            )
            if unwrapped != probe:
                raise KMSPluginError(f"{self.primary.label}: probe round trip returned other bytes")
        except Exception as exc:  # any failure is "unhealthy", never a crash of the loop
            self.mark_unhealthy(exc)
        else:
            self._record(HealthSnapshot(True, key_id, "", time.time()))
        for backend in self.decrypt_only:
            await self._probe_decrypt_only(backend)
        return self._snapshot

    async def _probe_decrypt_only(self, backend: Backend) -> None:
        try:
            await backend.current_key_id()
        except Exception as exc:
            log.warning(
                "decrypt-only backend unhealthy",
                extra={"backend": backend.label, "error": _describe(exc)},
            )
            self._metrics.set_health(backend.kind, "decryptOnly", False)
        else:
            self._metrics.set_health(backend.kind, "decryptOnly", True)

    def mark_unhealthy(self, exc: BaseException) -> None:
        previous = self._snapshot
        message = _describe(exc)
        if previous.healthy or previous.error != message:
            log.warning(
                "primary backend unhealthy", extra={"backend": self.primary.label, "error": message}
            )
        self._record(HealthSnapshot(False, previous.key_id, message, time.time()))

    def note_key_id(self, key_id: str) -> None:
        """A real wrap used a newer key_id than the last probe saw: report it right away."""
        snapshot = self._snapshot
        if snapshot.healthy and key_id != snapshot.key_id:
            self._record(HealthSnapshot(True, key_id, "", snapshot.checked_at))

    def _record(self, snapshot: HealthSnapshot) -> None:
        if snapshot.healthy and not self._snapshot.healthy:
            log.info("primary backend healthy", extra={"backend": self.primary.label})
        self._snapshot = snapshot
        self._metrics.set_health(self.primary.kind, "primary", snapshot.healthy)
        if snapshot.key_id:
            self._metrics.set_key_id(self.primary.kind, snapshot.key_id)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.probe()


def _describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, SealboxError) else f"{type(exc).__name__}: {exc}"
    return text.replace("\n", " ")[:_ERROR_CHARS]
