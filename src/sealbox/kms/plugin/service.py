"""The KMS API: Status, Encrypt and Decrypt over the configured backends, transport-free.

:class:`PluginService` validates requests, routes each Decrypt to the backend that owns its
key_id (primary first, then the ``decryptOnly`` ones, which is how a cluster moves from one KMS
to another without downtime), checks what backends return against the apiserver's limits, and
awaits each backend (how a backend waits, inline, on threads or in a worker process, is its own
business). :mod:`.servicers` maps it onto gRPC.

Time: Encrypt and Decrypt take ``timeout``, the seconds left before the caller's deadline
(kube-apiserver's ``kms.timeout``, 3 s by default); the backend call gets that less a margin
for the answer (:mod:`.budget`), after which the service answers
:class:`~sealbox.errors.BackendUnavailable` itself. A backend found unavailable fails fast for a
moment (:mod:`.breaker`) rather than have calls queue behind it.

Refused calls are logged as warnings, rate-limited (:mod:`.refusals`); every call is counted in
:mod:`.metrics`.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeVar

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
from sealbox.kms.plugin.breaker import Breaker
from sealbox.kms.plugin.budget import deadline_for, within
from sealbox.kms.plugin.health import HealthMonitor
from sealbox.kms.plugin.metrics import Metrics
from sealbox.kms.plugin.refusals import RefusalLog

__all__ = ["MAX_PLAINTEXT_BYTES", "InvalidRequest", "PluginService"]

log = logging.getLogger("sealbox.kms.service")
T = TypeVar("T")
MAX_PLAINTEXT_BYTES = 4096
_V1_FORMAT = b"\x01"


class InvalidRequest(ValueError):
    """The request itself is malformed (maps to INVALID_ARGUMENT)."""


@dataclass(frozen=True, slots=True)
class _Route:
    """A backend calls are routed to, and its fail-fast state."""

    backend: Backend
    breaker: Breaker


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
        self.refusals = RefusalLog(log)
        # Decrypt asks them in this order; each backend with its own fail-fast state.
        self._routes = (
            _Route(primary, self.health.breaker),
            *(_Route(backend, Breaker(backend.label)) for backend in self.decrypt_only),
        )

    async def status(self) -> PluginStatus:
        snapshot = self.health.snapshot
        with self.metrics.observe("status", self.primary.kind):
            if snapshot.healthy:
                return PluginStatus("v2", "ok", snapshot.key_id)
            if self.status_on_failure == "error" or not snapshot.key_id:
                raise PluginUnhealthy(f"{self.primary.label} is not healthy: {snapshot.error}")
            return PluginStatus("v2", snapshot.error or "unhealthy", snapshot.key_id)

    async def encrypt(self, plaintext: bytes, uid: str, *, timeout: float | None = None) -> Wrapped:
        route = self._routes[0]
        backend = route.backend
        deadline = deadline_for(timeout)
        try:
            with self.metrics.observe("encrypt", backend.kind):
                if not plaintext:
                    raise InvalidRequest("plaintext is empty")
                if len(plaintext) > MAX_PLAINTEXT_BYTES:
                    raise InvalidRequest(
                        f"plaintext is {len(plaintext)} bytes; at most {MAX_PLAINTEXT_BYTES} "
                        "accepted"
                    )
                wrapped = await self._call(route, lambda: backend.wrap(plaintext), deadline)
                _check_wrapped(backend, wrapped)
        except (InvalidRequest, BackendRejected) as exc:
            self.refusals.refused("Encrypt", backend.label, str(exc))
            raise
        self.health.note_key_id(wrapped.key_id)
        return wrapped

    async def decrypt(
        self,
        ciphertext: bytes,
        key_id: str,
        annotations: Mapping[str, bytes],
        uid: str,
        *,
        timeout: float | None = None,
    ) -> bytes:
        deadline = deadline_for(timeout)
        problem = _decrypt_problem(ciphertext, key_id)
        candidates = [] if problem else [r for r in self._routes if r.backend.owns(key_id)]
        if not candidates:
            with self.metrics.observe("decrypt", "none"):
                self._refuse("Decrypt", "none", InvalidRequest(problem or _unowned(key_id)))
        rejected: tuple[Backend, BackendRejected] | None = None
        unavailable: BackendUnavailable | None = None
        for route in candidates:
            backend = route.backend

            def unwrap(backend: Backend = backend) -> Awaitable[bytes]:
                return backend.unwrap(ciphertext, key_id, annotations)

            try:
                with self.metrics.observe("decrypt", backend.kind):
                    return await self._call(route, unwrap, deadline)
            except BackendRejected as exc:  # another candidate may hold the key
                rejected = backend, exc
            except BackendUnavailable as exc:
                unavailable = unavailable or exc
        if unavailable is not None:  # the apiserver should retry, not give up on the object
            raise unavailable
        assert rejected is not None
        self._refuse("Decrypt", rejected[0].label, rejected[1])

    def refuse_malformed(self, operation: str, problem: str) -> None:
        """A request that does not parse (``operation`` is the gRPC method): counted as
        ``invalid`` and logged, rate-limited, like any refused call."""
        self.metrics.record(operation.lower(), "none", "invalid", 0.0)
        self.refusals.refused(operation, "none", problem)

    def _refuse(
        self, operation: str, backend: str, exc: InvalidRequest | BackendRejected
    ) -> NoReturn:
        self.refusals.refused(operation, backend, str(exc))
        raise exc

    async def _call(
        self, route: _Route, work: Callable[[], Awaitable[T]], deadline: float | None
    ) -> T:
        """Await ``work`` (a call on ``backend``) by ``deadline``, unless the backend must fail
        fast; a backend found unavailable fails fast for a moment, the primary turns unhealthy.

        A call whose deadline passed before it started (the caller gave too little time, or it
        waited in a busy event loop) says nothing about the backend: it fails alone.
        """
        backend, breaker = route.backend, route.breaker
        if deadline is not None and deadline <= time.monotonic():
            raise BackendUnavailable(f"{backend.label}: no time left before the caller's deadline")
        trial = breaker.admit()
        try:
            result = await within(backend.label, work, deadline)
        except BackendUnavailable as exc:
            breaker.failed(exc)
            if backend is self.primary:
                self.health.mark_unhealthy(exc)
            raise
        except BackendRejected:
            breaker.answered()
            raise
        finally:
            if trial:
                breaker.trial_over()
        if not breaker.closed:
            breaker.answered()
        return result

    # KMS v1 (v1beta1) has no key_id field: the ciphertext carries it.
    #   0x01 ‖ uint16be(len(key_id)) ‖ key_id ‖ backend ciphertext

    async def encrypt_v1(self, plaintext: bytes, *, timeout: float | None = None) -> bytes:
        wrapped = await self.encrypt(plaintext, uid="", timeout=timeout)
        key_id = wrapped.key_id.encode()
        return _V1_FORMAT + struct.pack(">H", len(key_id)) + key_id + wrapped.ciphertext

    async def decrypt_v1(self, cipher: bytes, *, timeout: float | None = None) -> bytes:
        if len(cipher) < 3 or not cipher.startswith(_V1_FORMAT):
            raise InvalidRequest("not a Sealbox KMS v1 ciphertext")
        (length,) = struct.unpack(">H", cipher[1:3])
        if len(cipher) < 3 + length + 1:
            raise InvalidRequest("truncated KMS v1 ciphertext")
        key_id = cipher[3 : 3 + length].decode(errors="replace")
        return await self.decrypt(cipher[3 + length :], key_id, {}, uid="", timeout=timeout)

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


def _decrypt_problem(ciphertext: bytes, key_id: str) -> str:
    """What makes a Decrypt request malformed, or ``""``."""
    if not ciphertext:
        return "ciphertext is empty"
    try:
        validate_key_id(key_id)
    except InvalidField as exc:
        return str(exc)
    return ""


def _unowned(key_id: str) -> str:
    return f"no configured backend holds key_id {key_id[:100]!r}"


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
