"""Every ``sealbox_kms_*`` Prometheus series the plugin exports, and one way to record a call.

Labels carry operation, backend kind and result class only: never a key, a plaintext, or a raw
key_id (the current key_id is exported as a SHA-256 hash, like the apiserver's own metrics).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sealbox.errors import BackendRejected, BackendUnavailable
from sealbox.kms import key_id_hash

__all__ = ["Metrics", "result_of"]

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3)


def result_of(exc: BaseException | None) -> str:
    """The ``result`` label of a call that raised ``exc`` (``None``: it succeeded).

    ``ok``; ``rejected``: the backend refused the request; ``invalid``: the request is malformed;
    ``unavailable``: the plugin could not serve it now (a backend down, slow or refusing the
    plugin's credential, an unhealthy Status, the caller's deadline, a cancelled call);
    ``error``: anything else, a bug.
    """
    if exc is None:
        return "ok"
    if isinstance(exc, BackendRejected):
        return "rejected"
    if isinstance(exc, BackendUnavailable | asyncio.CancelledError):
        return "unavailable"
    if isinstance(exc, ValueError):
        return "invalid"
    return "error"


class Metrics:
    """One registry per plugin instance, so tests can run several side by side."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        call = ["operation", "backend", "result"]
        probe = ["backend", "role"]
        self.requests = Counter(
            "sealbox_kms_requests_total",
            "KMS API calls served, by operation, backend kind and result.",
            call,
            registry=registry,
        )
        self.latency = Histogram(
            "sealbox_kms_request_duration_seconds",
            "Time to serve a KMS API call, by operation, backend kind and result.",
            call,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.healthy, self.probe_timestamp, self.key_id_info = (
            Gauge(name, documentation, labels, registry=registry)
            for name, documentation, labels in (
                (
                    "sealbox_kms_backend_healthy",
                    "1 when the last health probe of the backend succeeded.",
                    probe,
                ),
                (
                    "sealbox_kms_health_probe_timestamp_seconds",
                    "Unix time of the last completed health probe.",
                    probe,
                ),
                (
                    "sealbox_kms_key_id_info",
                    "The current key_id of the primary backend, as sha256:<hex> "
                    "(value is always 1).",
                    ["backend", "key_id_hash"],
                ),
            )
        )
        self._key_id_labels: tuple[str, str] | None = None
        # Label lookups cost more than the local backend's AES-GCM: keep the children.
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    @contextmanager
    def observe(self, operation: str, backend: str) -> Iterator[None]:
        """Count and time one call; the result label comes from the exception, if any."""
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.record(operation, backend, result_of(error), time.perf_counter() - started)

    def record(self, operation: str, backend: str, result: str, seconds: float) -> None:
        """Count one call that took ``seconds`` (see :func:`result_of` for ``result``)."""
        labels = (operation, backend, result)
        children = self._children.get(labels)
        if children is None:
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[labels] = children
        children[0].inc()
        children[1].observe(seconds)

    def set_health(self, backend: str, role: str, healthy: bool) -> None:
        self.healthy.labels(backend, role).set(1 if healthy else 0)
        self.probe_timestamp.labels(backend, role).set(time.time())

    def set_key_id(self, backend: str, key_id: str) -> None:
        labels = (backend, key_id_hash(key_id))
        if labels == self._key_id_labels:
            return
        if self._key_id_labels is not None:
            self.key_id_info.remove(*self._key_id_labels)
        self.key_id_info.labels(*labels).set(1)
        self._key_id_labels = labels

    def render(self) -> bytes:
        return generate_latest(self.registry)
