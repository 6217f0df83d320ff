"""Issue 13's operational promises through the running controller, against real servers.

The controller's own ``/metrics`` (fetched over HTTP, as Prometheus scrapes it) carries ESO's
per-ExternalSecret series and Sealbox's freshness series, and drops them when the ExternalSecret
goes; and a controller restart rolls nothing: the new replica takes the values it finds as the
baseline, and only a later change rolls the consumer, once.
"""

from __future__ import annotations

import secrets
import time

import pytest

from tests.controllers.sync.sync_support import (
    WAIT_SECONDS,
    SyncControllerThread,
    apply,
    deployment,
    external_secret,
    generation,
    get,
    kv_put,
    new_namespace,
    restarted_at,
    samples,
    token_secret,
    vault_store,
    wait_ready,
    wait_value,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.openbao_audit import AuditedOpenBao
from tests.integration.processes import free_port, wait_until

pytestmark = pytest.mark.integration

RESTART_WINDOW = 3.0  # seconds


def _namespace_with_store(api: KubeApiserver, bao: AuditedOpenBao, prefix: str) -> str:
    namespace = new_namespace(api, prefix)
    apply(api, token_secret(namespace, bao.root_token), vault_store(bao, namespace))
    return namespace


def test_metrics_per_external_secret_appear_and_go_with_it(
    sync_crds: KubeApiserver, openbao_audited: AuditedOpenBao
) -> None:
    api = sync_crds
    namespace = _namespace_with_store(api, openbao_audited, "metrics")
    key = f"metrics/{secrets.token_hex(4)}"
    kv_put(openbao_audited, key, username="app", password="first")
    port = free_port()
    object_labels = {"namespace": namespace, "name": "measured"}
    with SyncControllerThread.for_namespaces(api, namespace, metrics_listen=("127.0.0.1", port)):
        apply(api, external_secret(namespace, "measured", key))
        wait_ready(api, "measured", namespace)

        def present() -> bool:
            return (
                bool(samples(port, "externalsecret_sync_calls_total", **object_labels))
                and samples(
                    port,
                    "externalsecret_status_condition",
                    condition="Ready",
                    status="True",
                    **object_labels,
                )
                == [1.0]
                and bool(
                    samples(port, "sealbox_sync_last_success_timestamp_seconds", **object_labels)
                )
                and bool(samples(port, "sealbox_sync_value_age_seconds", **object_labels))
            )

        wait_until(present, timeout=WAIT_SECONDS, what="the ExternalSecret's series")
        assert samples(port, "externalsecret_sync_calls_total", **object_labels)[0] >= 1
        assert samples(
            port,
            "externalsecret_status_condition",
            condition="Ready",
            status="False",
            **object_labels,
        ) == [0.0]
        (last_success,) = samples(
            port, "sealbox_sync_last_success_timestamp_seconds", **object_labels
        )
        assert abs(last_success - time.time()) < WAIT_SECONDS
        (age,) = samples(port, "sealbox_sync_value_age_seconds", **object_labels)
        assert 0 <= age < WAIT_SECONDS
        assert "first" not in str(samples(port, "externalsecret_sync_calls_total"))

        api.kubectl("delete", "externalsecret", "measured", "-n", namespace)
        names = (
            "externalsecret_sync_calls_total",
            "externalsecret_sync_calls_error",
            "externalsecret_status_condition",
            "externalsecret_reconcile_duration",
            "sealbox_sync_last_success_timestamp_seconds",
            "sealbox_sync_value_age_seconds",
            "sealbox_sync_propagation_latency_seconds",
        )
        wait_until(
            lambda: not any(samples(port, name, **object_labels) for name in names),
            timeout=WAIT_SECONDS,
            what="the deleted ExternalSecret's series gone",
        )


def test_a_controller_restart_rolls_nothing_and_a_later_change_rolls_once(
    sync_crds: KubeApiserver, openbao_audited: AuditedOpenBao
) -> None:
    api = sync_crds
    namespace = _namespace_with_store(api, openbao_audited, "restart")
    key = f"restart/{secrets.token_hex(4)}"
    kv_put(openbao_audited, key, username="app", password="first")
    apply(
        api,
        deployment(namespace, "consumer", "restarted"),
        external_secret(namespace, "restarted", key),
    )
    with SyncControllerThread.for_namespaces(api, namespace, restart_window=RESTART_WINDOW):
        wait_value(api, "restarted", namespace, {"user": b"app", "password": b"first"})
        wait_ready(api, "restarted", namespace)
    status = (get(api, "externalsecret", "restarted", namespace) or {}).get("status")
    secret_version = (get(api, "secret", "restarted", namespace) or {})["metadata"][
        "resourceVersion"
    ]

    port = free_port()
    labels = {"namespace": namespace, "name": "restarted"}
    with SyncControllerThread.for_namespaces(
        api, namespace, restart_window=RESTART_WINDOW, metrics_listen=("127.0.0.1", port)
    ):
        wait_until(
            lambda: bool(samples(port, "externalsecret_sync_calls_total", **labels)),
            timeout=WAIT_SECONDS,
            what="the new replica's first sync of the ExternalSecret",
        )
        time.sleep(RESTART_WINDOW + 2)  # a rollout the restart caused would have come by now
        assert generation(api, "deployment", "consumer", namespace) == 1
        assert restarted_at(api, "consumer", namespace) is None
        assert (get(api, "externalsecret", "restarted", namespace) or {}).get("status") == status
        current = (get(api, "secret", "restarted", namespace) or {})["metadata"]
        assert current["resourceVersion"] == secret_version  # the Secret was not rewritten

        kv_put(openbao_audited, key, username="app", password="second")
        wait_value(api, "restarted", namespace, {"user": b"app", "password": b"second"})
        wait_until(
            lambda: restarted_at(api, "consumer", namespace) is not None,
            timeout=WAIT_SECONDS,
            what="the consumer rolled for the new value",
        )
        time.sleep(RESTART_WINDOW + 2)  # a second rollout would have come by now
        assert generation(api, "deployment", "consumer", namespace) == 2
