"""The KMS API: Status, Encrypt and Decrypt over the configured backends, transport-free.

:class:`PluginService` validates requests, routes each Decrypt to the backend that owns its
key_id (primary first, then the ``decryptOnly`` ones, which is how a cluster moves from one KMS
to another without downtime), checks what backends return against the apiserver's limits, and
awaits each backend (how a backend waits, inline, on threads or in a worker process, is its own
business). :mod:`.servicers` maps it onto gRPC.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Awaitable, Mapping, Sequence
from typing import Literal, TypeVar

from sealbox.errors import (
    BackendRejected,
    BackendUnavailable,
    KMSPluginError,
    PluginUnhealthy,
)
from sealbox.kms import (
    MAX_CIPHERTEXT_BYTES,
    InvalidField,
    PluginStatus,
    Wrapped,
    validate_annotations,
    validate_key_id,
)
from sealbox.kms.backends import Backend
from sealbox.kms.plugin.health import HealthMonitor
from sealbox.kms.plugin.metrics import Metrics

__all__ = ["MAX_PLAINTEXT_BYTES", "InvalidRequest", "PluginService"]

log = logging.getLogger("sealbox.kms.service")
T = TypeVar("T")
MAX_PLAINTEXT_BYTES = 4096
_V1_FORMAT = b"\x01"


class InvalidRequest(ValueError):
    """The request itself is malformed (maps to INVALID_ARGUMENT)."""


class PluginService:
    """The plugin's behaviour; one instance per running server."""

    def __init__(
        self,
        primary: Backend,
        decrypt_only: Sequence[Backend] = (),
        *,
        probe_interval: float = 30.0,
        status_on_failure: Literal["error", "healthz"] = "error",
        metrics: Metrics | None = None,
    ) -> None:
        self.primary = primary
        self.decrypt_only = tuple(decrypt_only)
        self.metrics = metrics or Metrics()
        self.status_on_failure = status_on_failure
        self.health = HealthMonitor(
            primary, self.decrypt_only, interval=probe_interval, metrics=self.metrics
        )

    async def status(self) -> PluginStatus:
        snapshot = self.health.snapshot
        with self.metrics.observe("status", self.primary.kind):
            if snapshot.healthy:
                return PluginStatus("v2", "ok", snapshot.key_id)
            if self.status_on_failure == "error" or not snapshot.key_id:
                raise PluginUnhealthy(f"{self.primary.label} is not healthy: {snapshot.error}")
            return PluginStatus("v2", snapshot.error or "unhealthy", snapshot.key_id)

    async def encrypt(self, plaintext: bytes, uid: str) -> Wrapped:
        backend = self.primary
        with self.metrics.observe("encrypt", backend.kind):
            if not plaintext:
                raise InvalidRequest("plaintext is empty")
            if len(plaintext) > MAX_PLAINTEXT_BYTES:
                raise InvalidRequest(
                    f"plaintext is {len(plaintext)} bytes; at most {MAX_PLAINTEXT_BYTES} accepted"
                )
            wrapped = await self._call(backend, backend.wrap(plaintext))
            _check_wrapped(backend, wrapped)
        self.health.note_key_id(wrapped.key_id)
        return wrapped

    async def decrypt(
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes], uid: str
    ) -> bytes:
        if not ciphertext:
            raise InvalidRequest("ciphertext is empty")
        try:
            validate_key_id(key_id)
        except InvalidField as exc:
            raise InvalidRequest(str(exc)) from None
        candidates = [b for b in (self.primary, *self.decrypt_only) if b.owns(key_id)]
        if not candidates:
            with self.metrics.observe("decrypt", "none"):
                raise InvalidRequest(f"no configured backend holds key_id {key_id[:100]!r}")
        rejected: BackendRejected | None = None
        for backend in candidates:
            with self.metrics.observe("decrypt", backend.kind):
                try:
                    return await self._call(
                        backend, backend.unwrap(ciphertext, key_id, annotations)
                    )
                except BackendRejected as exc:
                    rejected = exc
                    if backend is candidates[-1]:
                        raise
        raise rejected or InvalidRequest("no backend could decrypt")  # unreachable in practice

    async def _call(self, backend: Backend, work: Awaitable[T]) -> T:
        """Await ``work`` (a call on ``backend``); an unreachable primary is unhealthy at once."""
        try:
            return await work
        except BackendUnavailable as exc:
            if backend is self.primary:
                self.health.mark_unhealthy(exc)
            raise

    # KMS v1 (v1beta1) has no key_id field: the ciphertext carries it.
    #   0x01 ‖ uint16be(len(key_id)) ‖ key_id ‖ backend ciphertext

    async def encrypt_v1(self, plaintext: bytes) -> bytes:
        wrapped = await self.encrypt(plaintext, uid="")
        key_id = wrapped.key_id.encode()
        return _V1_FORMAT + struct.pack(">H", len(key_id)) + key_id + wrapped.ciphertext

    async def decrypt_v1(self, cipher: bytes) -> bytes:
        if len(cipher) < 3 or not cipher.startswith(_V1_FORMAT):
            raise InvalidRequest("not a Sealbox KMS v1 ciphertext")
        (length,) = struct.unpack(">H", cipher[1:3])
        if len(cipher) < 3 + length + 1:
            raise InvalidRequest("truncated KMS v1 ciphertext")
        key_id = cipher[3 : 3 + length].decode(errors="replace")
        return await self.decrypt(cipher[3 + length :], key_id, {}, uid="")

    async def start(self) -> None:
        await self.health.probe()
        self.health.start()

    async def close(self) -> None:
        await self.health.stop()
        for backend in (self.primary, *self.decrypt_only):
            try:
                backend.close()
            except Exception:  # closing must not mask the shutdown
                log.exception("closing backend failed", extra={"backend": backend.label})


def _check_wrapped(backend: Backend, wrapped: Wrapped) -> None:
    """What the apiserver would reject later is a backend bug: refuse it now, clearly."""
    problem = ""
    if not 0 < len(wrapped.ciphertext) <= MAX_CIPHERTEXT_BYTES:
        problem = f"ciphertext of {len(wrapped.ciphertext)} bytes (1..{MAX_CIPHERTEXT_BYTES})"
    else:
        try:
            validate_key_id(wrapped.key_id)
            validate_annotations(wrapped.annotations)
        except InvalidField as exc:
            problem = str(exc)
    if problem:
        raise KMSPluginError(f"{backend.label} returned {problem}, which kube-apiserver rejects")
