"""The sync controller's Prometheus series: ESO's names (spec §1.7), so its dashboards and alerts
keep working, plus what ESO lacks (how old a synced value is, how long a change took to land).

ESO's series, with its label names:

* ``externalsecret_sync_calls_total{name,namespace}``, ``externalsecret_sync_calls_error{...}``:
  syncs and failed syncs (the error series starts at 0 with the first sync);
* ``externalsecret_status_condition{name,namespace,condition,status}``: 1 for the current status,
  0 for the other of True/False; ``externalsecret_reconcile_duration{name,namespace}`` (seconds);
* ``externalsecret_provider_api_calls_count{provider,call,status}``: calls to the stores;
* ``secretstore_status_condition{name,namespace,condition,status}`` and
  ``clustersecretstore_status_condition{name,condition,status}``: the stores' Ready condition.

ESO's Go counters ``externalsecret_sync_calls_error`` and ``..._provider_api_calls_count`` have no
``_total`` suffix; the Prometheus text format lets a counter's TYPE line name only ``<name>_total``,
so these two are exposed untyped under their exact sample names (PromQL's ``rate`` does not mind).

Sealbox's own:

* ``sealbox_sync_last_success_timestamp_seconds{namespace,name}``: the last successful sync;
* ``sealbox_sync_value_age_seconds{namespace,name}``: now minus when the oldest value the target
  Secret holds was last confirmed at its store, computed at each scrape (an alert on it catches a
  sync that silently stopped);
* ``sealbox_sync_propagation_latency_seconds{namespace,name}``: for the last change, from this
  controller's first sight of the new remote value to the Secret being written;
* ``sealbox_sync_secret_writes_total{verb}`` (create, update, delete of target Secrets),
  ``sealbox_sync_stale_consumers{namespace,secret}`` (pods still running an older value),
  ``sealbox_sync_restarts_total{namespace,kind}`` (rollouts requested).

Labels are object names and namespaces, never a key or value. Per-object series go with their
object (:meth:`SyncMetrics.forget_external_secret`, :meth:`~SyncMetrics.forget_store`,
:meth:`~SyncMetrics.forget_secret`). All series come from one collector reading the state kept
here under a lock, so a scrape from another thread sees a consistent set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from sealbox.controllers.sync.remote import utc_now
from sealbox.sync import StoreKind

__all__ = ["SyncMetrics"]

_STATUSES = ("True", "False")


@dataclass
class _ExternalSecretSeries:
    calls: float = 0.0
    errors: float = 0.0
    duration: float | None = None
    last_success: float | None = None
    oldest_check: datetime | None = None
    latency: float | None = None
    conditions: dict[str, str] = field(default_factory=dict)


def _condition_values(status: str) -> dict[str, float]:
    values = dict.fromkeys(_STATUSES, 0.0)
    values[status] = 1.0
    return values


class _Collector(Collector):
    """Reads :class:`SyncMetrics`' state at scrape time."""

    def __init__(self, metrics: SyncMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics._families())


class SyncMetrics:
    """The sync controller's series, registered in ``registry`` (the runtime's)."""

    def __init__(
        self, registry: CollectorRegistry, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._es: dict[tuple[str, str], _ExternalSecretSeries] = {}
        self._provider_calls: dict[tuple[str, str, str], float] = {}
        self._stores: dict[tuple[StoreKind, str | None, str], str] = {}
        self._writes: dict[str, float] = {}
        self._stale: dict[tuple[str, str], int] = {}
        self._restarts: dict[tuple[str, str], float] = {}
        registry.register(_Collector(self))

    # -- ExternalSecrets ------------------------------------------------------------------

    def sync_call(self, namespace: str, name: str, *, ok: bool) -> None:
        """One sync of the ExternalSecret, failed unless ``ok``."""
        with self._lock:
            series = self._series(namespace, name)
            series.calls += 1
            if not ok:
                series.errors += 1

    def reconcile_duration(self, namespace: str, name: str, seconds: float) -> None:
        with self._lock:
            self._series(namespace, name).duration = seconds

    def es_condition(self, namespace: str, name: str, condition: str, status: str) -> None:
        """``condition`` (``Ready``) is now ``status`` (``True``, ``False``)."""
        with self._lock:
            self._series(namespace, name).conditions[condition] = status

    def synced(
        self,
        namespace: str,
        name: str,
        *,
        at: datetime,
        oldest_check: datetime,
        latency: float | None,
    ) -> None:
        """A successful sync at ``at``; ``oldest_check`` is the oldest ``checked_at`` of the
        values the Secret holds; ``latency`` the propagation of a change written now (``None``
        when nothing changed). Datetimes must be timezone-aware."""
        if oldest_check.tzinfo is None:
            raise ValueError("oldest_check must be timezone-aware")
        with self._lock:
            series = self._series(namespace, name)
            series.last_success = at.timestamp()
            series.oldest_check = oldest_check
            if latency is not None:
                series.latency = latency

    def forget_external_secret(self, namespace: str, name: str) -> None:
        """Drop every series of a deleted ExternalSecret."""
        with self._lock:
            self._es.pop((namespace, name), None)

    # -- stores and providers -------------------------------------------------------------

    def provider_call(self, provider: str, call: str, status: str) -> None:
        """One call to a store (``RemoteReader``'s ``on_call``)."""
        with self._lock:
            key = (provider, call, status)
            self._provider_calls[key] = self._provider_calls.get(key, 0.0) + 1

    def store_condition(
        self, kind: StoreKind, namespace: str | None, name: str, *, ready: bool
    ) -> None:
        with self._lock:
            self._stores[(kind, namespace, name)] = "True" if ready else "False"

    def forget_store(self, kind: StoreKind, namespace: str | None, name: str) -> None:
        """Drop a deleted store's series."""
        with self._lock:
            self._stores.pop((kind, namespace, name), None)

    # -- Secrets and rollouts -------------------------------------------------------------

    def secret_write(self, verb: str) -> None:
        """A target Secret written: ``create``, ``update`` or ``delete``."""
        with self._lock:
            self._writes[verb] = self._writes.get(verb, 0.0) + 1

    def stale_consumers(self, namespace: str, secret: str, count: int) -> None:
        with self._lock:
            self._stale[(namespace, secret)] = count

    def forget_secret(self, namespace: str, secret: str) -> None:
        with self._lock:
            self._stale.pop((namespace, secret), None)

    def restart(self, namespace: str, kind: str) -> None:
        """A rollout restart requested for a workload of ``kind`` (Deployment...)."""
        with self._lock:
            key = (namespace, kind)
            self._restarts[key] = self._restarts.get(key, 0.0) + 1

    # -- scrape ---------------------------------------------------------------------------

    def _series(self, namespace: str, name: str) -> _ExternalSecretSeries:
        series = self._es.get((namespace, name))
        if series is None:
            series = self._es[(namespace, name)] = _ExternalSecretSeries()
        return series

    def _families(self) -> list[Metric]:
        with self._lock:
            return self._es_families() + self._other_families()

    def _es_families(self) -> list[Metric]:
        now = self._clock()
        es_labels = ["name", "namespace"]
        calls = CounterMetricFamily(
            "externalsecret_sync_calls",
            "Total number of the External Secret sync calls",
            labels=es_labels,
        )
        errors = Metric(
            "externalsecret_sync_calls_error",
            "Total number of the External Secret sync errors",
            "unknown",
        )
        conditions = GaugeMetricFamily(
            "externalsecret_status_condition",
            "The status condition of a specific External Secret",
            labels=["name", "namespace", "condition", "status"],
        )
        durations = GaugeMetricFamily(
            "externalsecret_reconcile_duration",
            "The duration time to reconcile the External Secret",
            labels=es_labels,
        )
        sb_labels = ["namespace", "name"]
        success = GaugeMetricFamily(
            "sealbox_sync_last_success_timestamp_seconds",
            "When the ExternalSecret last synced successfully (Unix time).",
            labels=sb_labels,
        )
        age = GaugeMetricFamily(
            "sealbox_sync_value_age_seconds",
            "Seconds since the oldest value in the target Secret was last confirmed at its store.",
            labels=sb_labels,
        )
        latency = GaugeMetricFamily(
            "sealbox_sync_propagation_latency_seconds",
            "For the last change: first sight of the new remote value to the Secret written.",
            labels=sb_labels,
        )
        for (namespace, name), series in sorted(self._es.items()):
            calls.add_metric([name, namespace], series.calls)
            errors.add_sample(
                "externalsecret_sync_calls_error",
                {"name": name, "namespace": namespace},
                series.errors,
            )
            for condition, status in sorted(series.conditions.items()):
                for shown, value in _condition_values(status).items():
                    conditions.add_metric([name, namespace, condition, shown], value)
            if series.duration is not None:
                durations.add_metric([name, namespace], series.duration)
            if series.last_success is not None:
                success.add_metric([namespace, name], series.last_success)
            if series.oldest_check is not None:
                seconds = (now - series.oldest_check).total_seconds()
                age.add_metric([namespace, name], max(0.0, seconds))
            if series.latency is not None:
                latency.add_metric([namespace, name], series.latency)
        return [calls, errors, conditions, durations, success, age, latency]

    def _other_families(self) -> list[Metric]:
        api_calls = Metric(
            "externalsecret_provider_api_calls_count",
            "Number of API calls towards the secret provider",
            "unknown",
        )
        for (provider, call, status), count in sorted(self._provider_calls.items()):
            api_calls.add_sample(
                "externalsecret_provider_api_calls_count",
                {"provider": provider, "call": call, "status": status},
                count,
            )
        stores = GaugeMetricFamily(
            "secretstore_status_condition",
            "The status condition of a specific Secret Store",
            labels=["name", "namespace", "condition", "status"],
        )
        cluster_stores = GaugeMetricFamily(
            "clustersecretstore_status_condition",
            "The status condition of a specific Cluster Secret Store",
            labels=["name", "condition", "status"],
        )
        for (kind, namespace, name), status in sorted(
            self._stores.items(), key=lambda item: (item[0][0], item[0][1] or "", item[0][2])
        ):
            for shown, value in _condition_values(status).items():
                if kind is StoreKind.CLUSTER_SECRET_STORE:
                    cluster_stores.add_metric([name, "Ready", shown], value)
                else:
                    stores.add_metric([name, namespace or "", "Ready", shown], value)
        writes = CounterMetricFamily(
            "sealbox_sync_secret_writes",
            "Target Secrets written by the sync controller, by verb (create, update, delete).",
            labels=["verb"],
        )
        for verb, count in sorted(self._writes.items()):
            writes.add_metric([verb], count)
        stale = GaugeMetricFamily(
            "sealbox_sync_stale_consumers",
            "Pods still running with an older value of the Secret than it now holds.",
            labels=["namespace", "secret"],
        )
        for (namespace, secret), count in sorted(self._stale.items()):
            stale.add_metric([namespace, secret], count)
        restarts = CounterMetricFamily(
            "sealbox_sync_restarts",
            "Rollout restarts requested after a Secret changed, by workload kind.",
            labels=["namespace", "kind"],
        )
        for (namespace, kind_name), count in sorted(self._restarts.items()):
            restarts.add_metric([namespace, kind_name], count)
        return [api_calls, stores, cluster_stores, writes, stale, restarts]
