"""Issue 13's acceptance, against real servers: the sync controller (leader election, informers,
reconciler, rollouts) in a thread, the session kube-apiserver with the CRDs of ``deploy/sync``,
and a ``bao server -dev`` whose audit log counts every request the controller sends.

A SecretStore and an ExternalSecret make a Secret with the right data; a value changed in
OpenBao reaches the Secret within the refresh interval and rolls the Deployment that reads it
through ``env`` exactly once for three quick changes, never the one that mounts it as a volume;
an idle refresh writes nothing; a refused token is a status reason with backoff, not a storm.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import pytest

from tests.controllers.sync.sync_support import (
    WAIT_SECONDS,
    SyncControllerThread,
    apply,
    condition,
    deployment,
    events_for,
    external_secret,
    generation,
    get,
    kv_put,
    restarted_at,
    secret_values,
    token_secret,
    vault_store,
    wait_ready,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.openbao_audit import AuditedOpenBao
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration

WRONG_TOKEN_REF = {"name": "wrong-token", "key": "token"}
RESTART_WINDOW = 6.0  # seconds: the three changes below land well inside it


@pytest.fixture
def synced(
    sync_crds: KubeApiserver, kube_namespace: str, openbao_audited: AuditedOpenBao
) -> Iterator[tuple[KubeApiserver, str, AuditedOpenBao, SyncControllerThread]]:
    """A namespace with a token Secret and SecretStore ``bao``, and the controller watching it."""
    apply(
        sync_crds,
        token_secret(kube_namespace, openbao_audited.root_token),
        vault_store(openbao_audited, kube_namespace),
    )
    with SyncControllerThread.for_namespaces(
        sync_crds, kube_namespace, restart_window=RESTART_WINDOW
    ) as controller:
        yield sync_crds, kube_namespace, openbao_audited, controller


def test_the_secret_follows_openbao_and_only_its_env_consumer_rolls_once(
    synced: tuple[KubeApiserver, str, AuditedOpenBao, SyncControllerThread],
) -> None:
    apiserver, namespace, bao, _ = synced
    key = f"shop/{secrets.token_hex(4)}"
    kv_put(bao, key, username="shop", password="first")
    apply(
        apiserver,
        deployment(namespace, "web-env", "shop-db"),
        deployment(namespace, "web-volume", "shop-db", env=False),
        external_secret(namespace, "shop-db", key),
    )
    wait_until(
        lambda: (
            secret_values(apiserver, "shop-db", namespace)
            == {"user": b"shop", "password": b"first"}
        ),
        timeout=WAIT_SECONDS,
        what="the Secret with the first value",
    )
    ready = wait_ready(apiserver, "shop-db", namespace)
    assert ready["reason"] == "SecretSynced"
    secret = get(apiserver, "secret", "shop-db", namespace) or {}
    assert secret["metadata"]["labels"]["reconcile.external-secrets.io/managed"] == "true"
    owner = secret["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "ExternalSecret",
        "shop-db",
        True,
    )
    assert restarted_at(apiserver, "web-env", namespace) is None  # creation rolls nothing

    for value in ("second", "third", "fourth"):
        kv_put(bao, key, username="shop", password=value)
        time.sleep(0.7)  # three quick changes, each within the 1s refresh of the last
    wait_until(
        lambda: (secret_values(apiserver, "shop-db", namespace) or {}).get("password") == b"fourth",
        timeout=WAIT_SECONDS,
        what="the Secret following OpenBao",
    )
    wait_until(
        lambda: restarted_at(apiserver, "web-env", namespace) is not None,
        timeout=WAIT_SECONDS,
        what="the env consumer restarted",
    )
    rolled = generation(apiserver, "deployment", "web-env", namespace)
    time.sleep(RESTART_WINDOW + 2)  # a second rollout would have come by now
    assert generation(apiserver, "deployment", "web-env", namespace) == rolled == 2  # once
    assert restarted_at(apiserver, "web-volume", namespace) is None
    assert generation(apiserver, "deployment", "web-volume", namespace) == 1
    reasons = [event["reason"] for event in events_for(apiserver, "shop-db", namespace)]
    assert reasons[0] == "Created"
    assert "Updated" in reasons


def test_an_idle_refresh_reads_versions_only_and_writes_nothing(
    synced: tuple[KubeApiserver, str, AuditedOpenBao, SyncControllerThread],
) -> None:
    apiserver, namespace, bao, _ = synced
    key = f"idle/{secrets.token_hex(4)}"
    kv_put(bao, key, username="u", password="p")
    apply(
        apiserver,
        *(external_secret(namespace, f"idle-{n}", key) for n in range(5)),
    )
    for n in range(5):
        wait_ready(apiserver, f"idle-{n}", namespace)
    time.sleep(2.5)  # let the first cycle settle the schedule
    before = {
        (kind, n): (get(apiserver, kind, f"idle-{n}", namespace) or {})["metadata"][
            "resourceVersion"
        ]
        for kind in ("secret", "externalsecret")
        for n in range(5)
    }
    mark = bao.mark()
    time.sleep(4.0)  # four refresh intervals
    after = {
        (kind, n): (get(apiserver, kind, f"idle-{n}", namespace) or {})["metadata"][
            "resourceVersion"
        ]
        for kind in ("secret", "externalsecret")
        for n in range(5)
    }
    assert after == before  # zero writes: no Secret, no status
    paths = [request.path for request in bao.requests(mark)]
    assert not [path for path in paths if path == f"secret/data/{key}"]  # no value read
    metadata_reads = [path for path in paths if path == f"secret/metadata/{key}"]
    # Five ExternalSecrets, one remote key: one version check per refresh cycle, not five.
    assert 1 <= len(metadata_reads) <= 6


def test_deletion_policies_when_the_remote_key_goes(
    synced: tuple[KubeApiserver, str, AuditedOpenBao, SyncControllerThread],
) -> None:
    apiserver, namespace, bao, _ = synced
    keys = {
        policy: f"gone/{policy.lower()}-{secrets.token_hex(3)}" for policy in ("Delete", "Retain")
    }
    for key in keys.values():
        kv_put(bao, key, username="u", password="p")
    apply(
        apiserver,
        *(
            external_secret(
                namespace, f"policy-{policy.lower()}", key, target={"deletionPolicy": policy}
            )
            for policy, key in keys.items()
        ),
    )
    for policy in keys:
        wait_ready(apiserver, f"policy-{policy.lower()}", namespace)
    for key in keys.values():
        bao.admin.request("DELETE", f"secret/metadata/{key}")
    deleted = wait_ready(apiserver, "policy-delete", namespace, status="False")
    assert deleted["reason"] == "SecretDeleted"
    wait_until(
        lambda: secret_values(apiserver, "policy-delete", namespace) is None,
        timeout=WAIT_SECONDS,
        what="the Delete policy's Secret removed",
    )
    retained = wait_ready(apiserver, "policy-retain", namespace, status="False")
    assert retained["reason"] == "SecretSyncedError"
    assert keys["Retain"] in retained["message"]
    assert secret_values(apiserver, "policy-retain", namespace) == {"user": b"u", "password": b"p"}
    warnings = [
        event
        for event in events_for(apiserver, "policy-retain", namespace)
        if event["type"] == "Warning"
    ]
    assert warnings
    assert warnings[-1]["reason"] == "UpdateFailed"


def test_a_refused_token_is_a_status_reason_with_backoff_not_a_storm(
    synced: tuple[KubeApiserver, str, AuditedOpenBao, SyncControllerThread],
) -> None:
    apiserver, namespace, bao, _ = synced
    key = f"refused/{secrets.token_hex(4)}"
    kv_put(bao, key, username="u", password="p")
    mark = bao.mark()
    apply(
        apiserver,
        token_secret(namespace, "not-a-token", name="wrong-token"),
        vault_store(
            bao,
            namespace,
            "wrong",
            auth={"tokenSecretRef": {"name": "wrong-token", "key": "token"}},
        ),
        *(external_secret(namespace, f"refused-{n}", key, store="wrong") for n in range(5)),
    )
    failed = wait_ready(apiserver, "refused-0", namespace, status="False")
    assert failed["reason"] == "SecretSyncedError"
    assert "wrong" in failed["message"]  # names the store
    assert "not-a-token" not in failed["message"]
    store = condition(apiserver, "secretstore", "wrong", namespace)
    assert store is not None
    assert store["status"] == "False"
    time.sleep(6.0)
    refused = [request for request in bao.requests(mark) if key in request.path]
    # Five ExternalSecrets refreshing every second for six seconds would send 30+; the store's
    # backoff after the refusal holds them to a handful.
    assert len(refused) <= 6, [request.path for request in refused]


def test_data_from_extract_and_find_with_decoding(
    synced: tuple[KubeApiserver, str, AuditedOpenBao, SyncControllerThread],
) -> None:
    apiserver, namespace, bao, _ = synced
    prefix = f"app-{secrets.token_hex(3)}"
    kv_put(bao, f"{prefix}/common", region="eu", tier="gold")
    kv_put(bao, f"{prefix}/feature-a", value="on")
    kv_put(bao, f"{prefix}/feature-b", value="off")
    kv_put(bao, f"{prefix}/other", value="no")
    kv_put(bao, f"{prefix}/encoded", blob="c2VjcmV0LWJ5dGVz")  # base64 of secret-bytes
    es = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "bundle", "namespace": namespace},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": "bao", "kind": "SecretStore"},
            "target": {"name": "bundle"},
            "dataFrom": [
                {"extract": {"key": f"{prefix}/common"}},
                {"find": {"path": f"{prefix}/", "name": {"regexp": "feature-"}}},
            ],
            "data": [
                {
                    "secretKey": "blob",
                    "remoteRef": {
                        "key": f"{prefix}/encoded",
                        "property": "blob",
                        "decodingStrategy": "Base64",
                    },
                }
            ],
        },
    }
    apply(apiserver, es)
    wait_ready(apiserver, "bundle", namespace)
    values = secret_values(apiserver, "bundle", namespace) or {}
    assert values["region"] == b"eu"
    assert values["tier"] == b"gold"
    assert values["blob"] == b"secret-bytes"
    found = {key: value for key, value in values.items() if "feature-" in key}
    # The found paths, with ESO's conversion of "/" (not allowed in a Secret key) to "_".
    assert sorted(found) == [f"{prefix}_feature-a", f"{prefix}_feature-b"]
    assert json_value(found[f"{prefix}_feature-a"]) == {"value": "on"}
    assert json_value(found[f"{prefix}_feature-b"]) == {"value": "off"}


def json_value(raw: bytes) -> object:
    return json.loads(raw)
