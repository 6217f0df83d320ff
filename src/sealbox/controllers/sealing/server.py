"""The sealing controller's HTTP endpoints, with upstream's paths, statuses and metrics (§3.4).

kubeseal reaches them through the apiserver's service proxy, so they must answer exactly as
upstream's ``pkg/controller/server.go`` does:

* ``/healthz``: 200 ``ok``.
* ``/v1/cert.pem``: the newest key's certificate, ``application/x-pem-file``; 500 "cannot get
  certificate" while there is no key.
* ``/v1/verify``: one SealedSecret (JSON or YAML, a single document); 200 when every value
  opens with some key held, 409 when not, 500 when the body is not one SealedSecret, 400 when it
  cannot be read. Rate-limited as upstream (GCRA, 2/s, burst 2, per path and
  ``X-Forwarded-For``; 429 "limit exceeded" with ``Retry-After``).
* ``/v1/rotate``: the SealedSecret re-sealed to the newest key as JSON (:mod:`.reseal`); 500
  when it cannot be.
* Any other path: 404, as Go's mux answers.

Like upstream, no endpoint checks the method. Each ``/v1`` request is counted in
``sealed_secrets_controller_http_requests_total{path,code,method}`` and timed in
``sealed_secrets_controller_http_request_duration_seconds{path,method}`` (Go's default
buckets), in the registry the controller serves on its metrics port. RSA work runs in worker
threads, so the event loop keeps serving probes and watches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram

from sealbox.controllers.sealing.ratelimit import GCRALimiter
from sealbox.controllers.sealing.reseal import reseal_sealed_secret
from sealbox.controllers.sealing.resource import SEALED_SECRET_API_VERSION, SEALED_SECRET_KIND
from sealbox.errors import InputError, NoSealingKey, SealboxError, UnsealFailed
from sealbox.probes import MAX_BODY_BYTES, ProbeServer, Reply, Request
from sealbox.sealing import KeyRing, SealingKey, unseal_sealed_secret

__all__ = [
    "GO_DEFAULT_BUCKETS",
    "SealingServer",
    "UndecodableSealedSecret",
    "parse_sealed_secret",
]

_log = logging.getLogger(__name__)

GO_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GO_PLAIN = "text/plain; charset=utf-8"
_PEM = "application/x-pem-file"
_INSTRUMENTED = ("/v1/verify", "/v1/rotate", "/v1/cert.pem")


class UndecodableSealedSecret(InputError):
    """The body is not one SealedSecret (the message never quotes the body)."""


def parse_sealed_secret(body: bytes) -> dict[str, Any]:
    """One SealedSecret object from JSON or single-document YAML.

    Raises :class:`UndecodableSealedSecret` for anything else.
    """
    try:
        document: Any = json.loads(body)
    except ValueError:
        try:
            documents = [d for d in yaml.safe_load_all(body) if d is not None]
        except yaml.YAMLError:
            raise UndecodableSealedSecret("the body is neither JSON nor YAML") from None
        if len(documents) != 1:
            raise UndecodableSealedSecret("the body must hold exactly one document") from None
        document = documents[0]
    if not isinstance(document, dict):
        raise UndecodableSealedSecret("the body is not an object")
    if (document.get("apiVersion"), document.get("kind")) != (
        SEALED_SECRET_API_VERSION,
        SEALED_SECRET_KIND,
    ):
        raise UndecodableSealedSecret(
            f"the body is not a {SEALED_SECRET_API_VERSION} {SEALED_SECRET_KIND}"
        )
    return document


class SealingServer:
    """Serves the endpoints for ``keyring`` on ``host:port`` (port 0: any free one)."""

    def __init__(
        self,
        keyring: KeyRing,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - kubeseal comes through the apiserver's proxy
        port: int = 8080,
        registry: CollectorRegistry | None = None,
        newest: Callable[[], SealingKey] | None = None,
        rate_limit: float = 2,
        rate_limit_burst: int = 2,
        max_body: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``newest`` picks the key to serve and re-seal to (default ``keyring.newest``; the
        controller passes ``KeyStore.newest`` for ``--key-order-priority``); ``rate_limit``
        zero or less turns the ``/v1/verify`` limit off."""
        self.keyring = keyring
        self._newest = newest or (lambda: keyring.newest)
        self._limiter = (
            GCRALimiter(rate_limit, rate_limit_burst, clock=clock) if rate_limit > 0 else None
        )
        registry = registry if registry is not None else CollectorRegistry()
        self._requests = Counter(
            "http_requests_total",
            "A counter for requests to the wrapped handler.",
            ["path", "code", "method"],
            namespace="sealed_secrets_controller",
            registry=registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "A histogram of latencies for requests.",
            ["path", "method"],
            namespace="sealed_secrets_controller",
            buckets=GO_DEFAULT_BUCKETS,
            registry=registry,
        )
        self._server = ProbeServer(
            host, port, lambda _path: None, handler=self.handle, max_body=max_body
        )

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        """The listening port (the chosen one after :meth:`start` with port 0)."""
        return self._server.port

    async def start(self) -> None:
        await self._server.start()
        _log.info("sealing HTTP endpoints on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        await self._server.stop()

    async def handle(self, request: Request) -> Reply:
        """The answer to one request (what the socket gets)."""
        if request.path not in _INSTRUMENTED:
            if request.path == "/healthz":
                return 200, _GO_PLAIN, b"ok\n"
            return 404, _GO_PLAIN, b"404 page not found\n"
        started = time.perf_counter()
        reply = await self._route(request)
        method = request.method.lower()
        self._requests.labels(request.path, str(reply[0]), method).inc()
        self._duration.labels(request.path, method).observe(time.perf_counter() - started)
        return reply

    async def _route(self, request: Request) -> Reply:
        if request.path == "/v1/cert.pem":
            try:
                return 200, _PEM, self._newest().certificate_pem()
            except NoSealingKey:
                _log.error("cannot get certificates: no sealing key is held yet")
                return 500, _GO_PLAIN, b"cannot get certificate\n"
        if request.path == "/v1/verify":
            if self._limiter is not None:
                forwarded = request.headers.get("x-forwarded-for", "")
                decision = self._limiter.check((request.path, forwarded))
                if decision.limited:
                    return 429, _GO_PLAIN, b"limit exceeded\n", decision.headers()
                status = await self._verify(request.body)
                return status, _GO_PLAIN, b"", decision.headers()
            return await self._verify(request.body), _GO_PLAIN, b""
        return await self._rotate(request.body)

    async def _verify(self, body: bytes) -> int:
        try:
            obj = parse_sealed_secret(body)
        except UndecodableSealedSecret as exc:
            _log.error("error validating secret: %s", exc)
            return 500
        try:
            await asyncio.to_thread(unseal_sealed_secret, obj, self.keyring.open)
        except UnsealFailed as exc:
            if exc.reason == "InvalidSealedSecret":
                _log.error("error validating secret: %s", exc)
                return 500
            return 409
        return 200

    async def _rotate(self, body: bytes) -> Reply:
        try:
            obj = parse_sealed_secret(body)
            newest = self._newest()
            resealed, replaced = await asyncio.to_thread(
                reseal_sealed_secret, obj, self.keyring, newest
            )
        except SealboxError as exc:
            _log.error("error rotating secret: %s", exc)
            return 500, _GO_PLAIN, f"cannot re-seal: {exc}\n".encode()
        if replaced:
            meta = resealed.get("metadata") or {}
            _log.warning(
                "SealedSecret %s/%s: template metadata differs from the object's; it was "
                "replaced by the object's metadata (the scope comes from the object). Please "
                "align your SealedSecret metadata",
                meta.get("namespace", ""),
                meta.get("name", ""),
            )
        return 200, "application/json", json.dumps(resealed).encode()
