"""The shared, cached health check behind Status, /healthz and /readyz.

A background task wraps and unwraps a probe value through the primary backend every
``interval`` seconds and records the key_id it reports, so a paid or rate-limited KMS is called
once per interval, not once per apiserver poll. Real calls that find the backend unavailable
mark it unhealthy at once; only a successful probe marks it healthy again. Readiness follows
this check; liveness does not (a disabled key must not get the plugin restarted).

The monitor also holds the primary's :class:`~.breaker.Breaker`: a probe that finds the primary
unavailable opens it (calls fail fast), one it answers closes it. The probe itself never waits
for the breaker. The primary's key_id is logged, as its hash (``sha256:<hex>``, the form
kube-apiserver logs and exports), when first known and whenever it changes. A backend turning
unhealthy is one warning; a new reason during the same outage is another at most every
:data:`REPEAT_WARNING_SECONDS`, however many calls fail meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sealbox.errors import BackendUnavailable, KMSPluginError, SealboxError
from sealbox.kms import key_id_hash
from sealbox.kms.backends import Backend
from sealbox.kms.plugin.breaker import Breaker
from sealbox.kms.plugin.metrics import Metrics

__all__ = ["HealthMonitor", "HealthSnapshot"]

log = logging.getLogger("sealbox.kms.health")
_PROBE_BYTES = 32
REPEAT_WARNING_SECONDS = 10.0
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
        self.breaker = Breaker(primary.label)
        self._warned: dict[str, tuple[float, str]] = {}  # backend label → (when, reason)

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
            if isinstance(exc, BackendUnavailable):
                self.breaker.failed(exc)
            else:
                self.breaker.answered()
        else:
            self.breaker.answered()
            self._record(HealthSnapshot(True, key_id, "", time.time()))
        for backend in self.decrypt_only:
            await self._probe_decrypt_only(backend)
        return self._snapshot

    async def _probe_decrypt_only(self, backend: Backend) -> None:
        try:
            await backend.current_key_id()
        except Exception as exc:
            self._warn("decrypt-only backend unhealthy", backend.label, _describe(exc))
            self._metrics.set_health(backend.kind, "decryptOnly", False)
        else:
            self._warned.pop(backend.label, None)
            self._metrics.set_health(backend.kind, "decryptOnly", True)

    def mark_unhealthy(self, exc: BaseException) -> None:
        previous = self._snapshot
        message = _describe(exc)
        if previous.healthy:
            self._warned.pop(self.primary.label, None)
        self._warn("primary backend unhealthy", self.primary.label, message)
        self._record(HealthSnapshot(False, previous.key_id, message, time.time()))

    def _warn(self, what: str, backend: str, error: str) -> None:
        """Warn when a backend turns unhealthy, then when the reason changes, at most once per
        :data:`REPEAT_WARNING_SECONDS`: an outage must not write a line per failed call."""
        now = time.monotonic()
        last = self._warned.get(backend)
        if last is not None and (last[1] == error or now - last[0] < REPEAT_WARNING_SECONDS):
            return
        self._warned[backend] = (now, error)
        log.warning(what, extra={"backend": backend, "error": error})

    def note_key_id(self, key_id: str) -> None:
        """A real wrap used a newer key_id than the last probe saw: report it right away."""
        snapshot = self._snapshot
        if snapshot.healthy and key_id != snapshot.key_id:
            self._record(HealthSnapshot(True, key_id, "", snapshot.checked_at))

    def _record(self, snapshot: HealthSnapshot) -> None:
        previous = self._snapshot
        if snapshot.healthy and not previous.healthy:
            log.info("primary backend healthy", extra={"backend": self.primary.label})
            self._warned.pop(self.primary.label, None)
        if snapshot.key_id and snapshot.key_id != previous.key_id:
            fields = {"backend": self.primary.label, "key_id_hash": key_id_hash(snapshot.key_id)}
            if previous.key_id:
                fields["previous_key_id_hash"] = key_id_hash(previous.key_id)
            log.info(
                "primary key_id changed" if previous.key_id else "primary key_id", extra=fields
            )
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
