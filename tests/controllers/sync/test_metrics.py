"""The sync controller's series: ESO's names and labels, Sealbox's additions, and their removal
with the object they describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sealbox.controllers.sync.metrics import SyncMetrics
from sealbox.sync import StoreKind

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make() -> tuple[SyncMetrics, CollectorRegistry, Clock]:
    registry = CollectorRegistry()
    clock = Clock()
    return SyncMetrics(registry, clock=clock), registry, clock


def sample_names(registry: CollectorRegistry) -> set[str]:
    text = generate_latest(registry).decode()
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def test_external_secret_series_use_eso_names_and_go_with_the_object() -> None:
    metrics, registry, clock = make()
    es = {"name": "db", "namespace": "team-a"}
    metrics.sync_call("team-a", "db", ok=True)
    metrics.sync_call("team-a", "db", ok=False)
    metrics.sync_call("team-a", "db", ok=True)
    metrics.sync_call("team-b", "other", ok=True)
    metrics.reconcile_duration("team-a", "db", 0.25)
    metrics.es_condition("team-a", "db", "Ready", "False")
    metrics.es_condition("team-a", "db", "Ready", "True")
    metrics.synced("team-a", "db", at=T0, oldest_check=T0 - timedelta(seconds=30), latency=1.5)

    get = registry.get_sample_value
    assert get("externalsecret_sync_calls_total", es) == 3
    assert get("externalsecret_sync_calls_error", es) == 1
    assert get("externalsecret_sync_calls_error", {"name": "other", "namespace": "team-b"}) == 0
    assert get("externalsecret_reconcile_duration", es) == 0.25
    ready = {**es, "condition": "Ready"}
    assert get("externalsecret_status_condition", {**ready, "status": "True"}) == 1
    assert get("externalsecret_status_condition", {**ready, "status": "False"}) == 0
    assert get("sealbox_sync_last_success_timestamp_seconds", es) == T0.timestamp()
    assert get("sealbox_sync_propagation_latency_seconds", es) == 1.5
    assert get("sealbox_sync_value_age_seconds", es) == 30

    clock.now += timedelta(seconds=45)  # the age grows between scrapes with no call
    assert get("sealbox_sync_value_age_seconds", es) == 75
    metrics.synced("team-a", "db", at=clock.now, oldest_check=clock.now, latency=None)
    assert get("sealbox_sync_value_age_seconds", es) == 0
    assert get("sealbox_sync_propagation_latency_seconds", es) == 1.5  # the last change's

    metrics.forget_external_secret("team-a", "db")
    text = generate_latest(registry).decode()
    assert 'name="db"' not in text
    assert get("externalsecret_sync_calls_total", {"name": "other", "namespace": "team-b"}) == 1


def test_provider_calls_and_store_conditions() -> None:
    metrics, registry, _ = make()
    metrics.provider_call("vault", "GetSecret", "success")
    metrics.provider_call("vault", "GetSecret", "success")
    metrics.provider_call("vault", "GetSecretVersion", "error")
    get = registry.get_sample_value
    calls = "externalsecret_provider_api_calls_count"
    assert get(calls, {"provider": "vault", "call": "GetSecret", "status": "success"}) == 2
    assert get(calls, {"provider": "vault", "call": "GetSecretVersion", "status": "error"}) == 1

    metrics.store_condition(StoreKind.SECRET_STORE, "team-a", "bao", ready=False)
    metrics.store_condition(StoreKind.CLUSTER_SECRET_STORE, None, "shared", ready=True)
    store = {"name": "bao", "namespace": "team-a", "condition": "Ready"}
    assert get("secretstore_status_condition", {**store, "status": "False"}) == 1
    assert get("secretstore_status_condition", {**store, "status": "True"}) == 0
    cluster = {"name": "shared", "condition": "Ready"}
    assert get("clustersecretstore_status_condition", {**cluster, "status": "True"}) == 1
    assert get("clustersecretstore_status_condition", {**cluster, "status": "False"}) == 0

    metrics.store_condition(StoreKind.SECRET_STORE, "team-a", "bao", ready=True)
    assert get("secretstore_status_condition", {**store, "status": "True"}) == 1
    metrics.forget_store(StoreKind.SECRET_STORE, "team-a", "bao")
    assert get("secretstore_status_condition", {**store, "status": "True"}) is None
    metrics.forget_store(StoreKind.CLUSTER_SECRET_STORE, None, "shared")
    assert "clustersecretstore_status_condition{" not in generate_latest(registry).decode()


def test_writes_stale_consumers_and_restarts() -> None:
    metrics, registry, _ = make()
    metrics.secret_write("create")
    metrics.secret_write("update")
    metrics.secret_write("update")
    metrics.stale_consumers("team-a", "db-creds", 3)
    metrics.restart("team-a", "Deployment")
    get = registry.get_sample_value
    assert get("sealbox_sync_secret_writes_total", {"verb": "update"}) == 2
    assert get("sealbox_sync_secret_writes_total", {"verb": "create"}) == 1
    stale = {"namespace": "team-a", "secret": "db-creds"}
    assert get("sealbox_sync_stale_consumers", stale) == 3
    metrics.stale_consumers("team-a", "db-creds", 0)
    assert get("sealbox_sync_stale_consumers", stale) == 0
    metrics.forget_secret("team-a", "db-creds")
    assert get("sealbox_sync_stale_consumers", stale) is None
    assert get("sealbox_sync_restarts_total", {"namespace": "team-a", "kind": "Deployment"}) == 1


def test_the_exposition_parses_and_carries_only_names() -> None:
    """Every family parses as Prometheus text, and the labels hold names, never a value."""
    metrics, registry, _ = make()
    metrics.sync_call("team-a", "db", ok=False)
    metrics.es_condition("team-a", "db", "Ready", "False")
    metrics.synced("team-a", "db", at=T0, oldest_check=T0, latency=0.5)
    metrics.provider_call("vault", "GetSecret", "error")
    metrics.store_condition(StoreKind.SECRET_STORE, "team-a", "bao", ready=True)
    metrics.secret_write("delete")
    metrics.stale_consumers("team-a", "db", 1)
    metrics.restart("team-a", "StatefulSet")
    assert sample_names(registry) == {
        "externalsecret_sync_calls_total",
        "externalsecret_sync_calls_error",
        "externalsecret_status_condition",
        "sealbox_sync_last_success_timestamp_seconds",
        "sealbox_sync_value_age_seconds",
        "sealbox_sync_propagation_latency_seconds",
        "externalsecret_provider_api_calls_count",
        "secretstore_status_condition",
        "sealbox_sync_secret_writes_total",
        "sealbox_sync_stale_consumers",
        "sealbox_sync_restarts_total",
    }
    text = generate_latest(registry).decode()
    label_values = {
        value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for value in sample.labels.values()
    }
    assert label_values <= {
        "team-a",
        "db",
        "bao",
        "Ready",
        "True",
        "False",
        "vault",
        "GetSecret",
        "error",
        "delete",
        "StatefulSet",
    }
