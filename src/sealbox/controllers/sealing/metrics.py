"""The sealing controller's Prometheus series: upstream's names, so dashboards and alerts keep
working (``sealed_secrets_controller_*``, spec §3.5), plus Sealbox's own.

They live in the runtime's registry (:class:`~sealbox.kube.runtime.ControllerMetrics`), so one
``/metrics`` on the metrics port shows both. ``condition_info`` is per object, as upstream's is
(its labels are the SealedSecret's namespace and name, never a value); a deleted SealedSecret's
series is removed.

Sealbox's additions:

* ``sealbox_sealing_private_key_operations_total``: RSA private-key operations so far (read from
  the key ring at scrape time): upstream values cost up to one per key held, envelope values one;
* ``sealbox_sealing_newest_key_backed_up``: 1 when the newest sealing key is in a backup, 0 when
  not yet (absent until the key store can tell).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from sealbox import __version__

__all__ = ["SealingMetrics", "condition_value"]

_NS = "sealed_secrets_controller"
INSTANCE_LABEL = "app.kubernetes.io/instance"
_STATUS_VALUE = {"True": 1.0, "False": -1.0}  # upstream: Unknown (and anything else) is 0


def condition_value(status: str) -> float:
    return _STATUS_VALUE.get(status, 0.0)


class _KeyCollector(Collector):
    """Read at scrape time: nothing to keep in step."""

    def __init__(
        self, operations: Callable[[], int], backed_up: Callable[[], bool | None] | None
    ) -> None:
        self._operations = operations
        self._backed_up = backed_up

    def collect(self) -> Any:
        yield CounterMetricFamily(
            "sealbox_sealing_private_key_operations",
            "RSA private-key operations done to open sealed values.",
            value=self._operations(),
        )
        state = self._backed_up() if self._backed_up is not None else None
        if state is not None:
            yield GaugeMetricFamily(
                "sealbox_sealing_newest_key_backed_up",
                "1 when the newest sealing key is in a backup, 0 when it has none yet.",
                value=1.0 if state else 0.0,
            )


class SealingMetrics:
    """The controller's series in ``registry`` (the runtime's, so one /metrics serves all)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        private_key_operations: Callable[[], int],
        newest_key_backed_up: Callable[[], bool | None] | None = None,
    ) -> None:
        self.build_info = Gauge(
            f"{_NS}_build_info",
            "Build information.",
            ["revision"],
            registry=registry,
        )
        self.build_info.labels(__version__).set(1)
        self.unseal_requests_total = Counter(
            f"{_NS}_unseal_requests",
            "Total number of sealed secret unseal requests",
            registry=registry,
        )
        self.unseal_errors_total = Counter(
            f"{_NS}_unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            ["reason", "namespace"],
            registry=registry,
        )
        self.unseal_errors_total.labels("fetch", "")  # as upstream: the series exists from start
        self.condition_info = Gauge(
            f"{_NS}_condition_info",
            "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), "
            "1 (true)",
            ["namespace", "name", "condition", "ss_app_kubernetes_io_instance"],
            registry=registry,
        )
        registry.register(_KeyCollector(private_key_operations, newest_key_backed_up))
        self._condition_labels: dict[tuple[str, str], tuple[str, ...]] = {}

    def error(self, reason: str, namespace: str) -> None:
        """One unseal error: ``reason`` is fetch, unseal, update, unmanaged or status."""
        self.unseal_errors_total.labels(reason, namespace).inc()

    def observe_conditions(self, sealed: Mapping[str, Any]) -> None:
        """Set ``condition_info`` from a SealedSecret's status (as upstream's ObserveCondition)."""
        meta: Mapping[str, Any] = sealed.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        instance = str((meta.get("labels") or {}).get(INSTANCE_LABEL, ""))
        for condition in (sealed.get("status") or {}).get("conditions") or ():
            labels = (namespace, name, str(condition.get("type", "")), instance)
            previous = self._condition_labels.get((namespace, name))
            if previous is not None and previous != labels:
                self.condition_info.remove(*previous)
            self._condition_labels[(namespace, name)] = labels
            self.condition_info.labels(*labels).set(
                condition_value(str(condition.get("status", "")))
            )

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted SealedSecret's ``condition_info`` series."""
        labels = self._condition_labels.pop((namespace, name), None)
        if labels is not None:
            self.condition_info.remove(*labels)
