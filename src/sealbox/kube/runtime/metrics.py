"""Prometheus series of a controller: ``sealbox_controller_*``, labelled by controller name.

Labels are only the controller's name and a result: never a key, namespace or object name (an
object's name can say more than it should, and per-object series grow without bound).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ControllerMetrics"]


class ControllerMetrics:
    """The series one process exposes, in its own registry (several controllers may share it)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.queue_depth = Gauge(
            "sealbox_controller_queue_depth",
            "Keys waiting in the work queue.",
            ["controller"],
            registry=self.registry,
        )
        self.reconcile_total = Counter(
            "sealbox_controller_reconcile_total",
            "Reconciles run, by result (success, error, requeue).",
            ["controller", "result"],
            registry=self.registry,
        )
        self.reconcile_errors_total = Counter(
            "sealbox_controller_reconcile_errors_total",
            "Reconciles that raised; the key is retried after its backoff.",
            ["controller"],
            registry=self.registry,
        )
        self.reconcile_duration_seconds = Histogram(
            "sealbox_controller_reconcile_duration_seconds",
            "Time one reconcile took.",
            ["controller"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "sealbox_controller_leader",
            "1 while this replica holds the controller's Lease and acts, else 0.",
            ["controller"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
