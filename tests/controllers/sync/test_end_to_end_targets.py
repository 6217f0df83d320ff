"""Issue 13's target Secret behaviour through the running controller, against real servers.

The controller (in a thread) syncs from the audited OpenBao into this module's namespace on the
session apiserver: the ``force-sync`` annotation fetches at once whatever the refreshInterval;
a hand-edited or deleted target is repaired at once; each creationPolicy writes (or does not
write) what ``docs/sync.md`` says; templates render with sprig functions, a broken one is a
status reason and a Warning Event naming its key, and Helm-safe delimiters leave ``{{ }}`` alone.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.controllers.sync.sync_support import (
    SyncControllerThread,
    apply,
    events_for,
    external_secret,
    get,
    kv_put,
    new_namespace,
    secret_values,
    token_secret,
    vault_store,
    wait_ready,
    wait_value,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.openbao_audit import AuditedOpenBao
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration

FIRST = {"user": b"app", "password": b"first"}
SECOND = {"user": b"app", "password": b"second"}


@dataclass
class Synced:
    apiserver: KubeApiserver
    bao: AuditedOpenBao
    namespace: str

    def remote(self) -> str:
        """A fresh remote key holding ``FIRST``."""
        key = f"targets/{secrets.token_hex(4)}"
        kv_put(self.bao, key, username="app", password="first")
        return key


@pytest.fixture(scope="module")
def synced(sync_crds: KubeApiserver, openbao_audited: AuditedOpenBao) -> Iterator[Synced]:
    """A namespace with SecretStore ``bao`` and one controller watching it, for the module."""
    namespace = new_namespace(sync_crds, "targets")
    apply(
        sync_crds,
        token_secret(namespace, openbao_audited.root_token),
        vault_store(openbao_audited, namespace),
    )
    with SyncControllerThread.for_namespaces(sync_crds, namespace):
        yield Synced(sync_crds, openbao_audited, namespace)


def _absent(api: KubeApiserver, name: str, namespace: str) -> bool:
    return get(api, "secret", name, namespace) is None


def test_force_sync_fetches_at_once_despite_an_hour_long_refresh(synced: Synced) -> None:
    api, ns = synced.apiserver, synced.namespace
    key = synced.remote()
    apply(api, external_secret(ns, "forced", key, refresh="1h"))
    wait_value(api, "forced", ns, FIRST)
    kv_put(synced.bao, key, username="app", password="second")
    time.sleep(2.5)  # an hour-long refresh: nothing fetches the new value by itself
    assert secret_values(api, "forced", ns) == FIRST
    _force_sync(api, "forced", ns)
    wait_value(api, "forced", ns, SECOND)
    # At once again, as a script would: the check the last sync made (a moment ago, before this
    # write) must not stand in for the store as it is now.
    kv_put(synced.bao, key, username="app", password="third")
    _force_sync(api, "forced", ns)
    wait_value(api, "forced", ns, {"user": b"app", "password": b"third"})


def _force_sync(api: KubeApiserver, name: str, namespace: str) -> None:
    api.kubectl(
        "annotate",
        "externalsecret",
        name,
        "-n",
        namespace,
        f"external-secrets.io/force-sync={time.time_ns()}",
        "--overwrite",
    )


def test_a_hand_edit_is_reverted_and_a_deleted_target_recreated(synced: Synced) -> None:
    api, ns = synced.apiserver, synced.namespace
    key = synced.remote()
    apply(api, external_secret(ns, "drift", key, refresh="1h"))  # repairs come from the watch
    wait_value(api, "drift", ns, FIRST)
    edited = json.dumps({"data": {"password": base64.b64encode(b"by-hand").decode()}})
    api.kubectl("patch", "secret", "drift", "-n", ns, "--type=merge", "-p", edited)
    wait_value(api, "drift", ns, FIRST)

    uid = (get(api, "secret", "drift", ns) or {})["metadata"]["uid"]
    api.kubectl("delete", "secret", "drift", "-n", ns)
    wait_until(
        lambda: (
            (get(api, "secret", "drift", ns) or {}).get("metadata", {}).get("uid")
            not in (None, uid)
        ),
        timeout=60,
        what="the deleted target recreated",
    )
    wait_value(api, "drift", ns, FIRST)
    owners = (get(api, "secret", "drift", ns) or {})["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"]) for o in owners] == [("ExternalSecret", "drift")]


def test_orphan_has_no_owner_and_outlives_its_external_secret(synced: Synced) -> None:
    api, ns = synced.apiserver, synced.namespace
    key = synced.remote()
    apply(api, external_secret(ns, "orphan", key, target={"creationPolicy": "Orphan"}))
    wait_value(api, "orphan", ns, FIRST)
    metadata = (get(api, "secret", "orphan", ns) or {})["metadata"]
    assert not metadata.get("ownerReferences")
    assert metadata["labels"]["reconcile.external-secrets.io/managed"] == "true"
    assert "reconcile.external-secrets.io/created-by" not in metadata["labels"]
    api.kubectl("delete", "externalsecret", "orphan", "-n", ns)
    time.sleep(2.0)  # two refresh intervals: nothing removes the orphan
    assert secret_values(api, "orphan", ns) == FIRST


def test_merge_keeps_the_other_keys_and_waits_for_a_missing_target(synced: Synced) -> None:
    api, ns = synced.apiserver, synced.namespace
    key = synced.remote()
    api.kubectl("create", "secret", "generic", "merged", "-n", ns, "--from-literal=other=kept")
    apply(
        api,
        external_secret(ns, "merged", key, target={"creationPolicy": "Merge"}),
        external_secret(ns, "later", key, target={"creationPolicy": "Merge"}),
    )
    wait_value(api, "merged", ns, {"other": b"kept", **FIRST})
    metadata = (get(api, "secret", "merged", ns) or {})["metadata"]
    assert "reconcile.external-secrets.io/managed" not in (metadata.get("labels") or {})
    assert "reconcile.external-secrets.io/data-hash" in metadata["annotations"]
    assert not metadata.get("ownerReferences")

    missing = wait_ready(api, "later", ns, status="False")
    assert missing["reason"] == "SecretMissing"
    assert "later" in missing["message"]
    assert _absent(api, "later", ns)  # Merge never creates it
    api.kubectl("create", "secret", "generic", "later", "-n", ns, "--from-literal=other=mine")
    wait_value(api, "later", ns, {"other": b"mine", **FIRST})
    assert wait_ready(api, "later", ns)["reason"] == "SecretSynced"


def test_none_writes_no_secret_and_is_ready(synced: Synced) -> None:
    api, ns = synced.apiserver, synced.namespace
    key = synced.remote()
    apply(api, external_secret(ns, "nothing", key, target={"creationPolicy": "None"}))
    assert wait_ready(api, "nothing", ns)["reason"] == "SecretSynced"
    time.sleep(1.5)  # more refreshes: still no Secret
    assert _absent(api, "nothing", ns)


def _templated(namespace: str, name: str, key: str, data: dict[str, str]) -> dict[str, Any]:
    return external_secret(
        namespace, name, key, target={"template": {"engineVersion": "v2", "data": data}}
    )


def test_a_template_renders_with_sprig_functions(synced: Synced) -> None:
    api, ns = synced.apiserver, synced.namespace
    key = synced.remote()
    data = {
        "dsn": "postgres://{{ .user }}:{{ .password | upper }}@db:5432/{{ .user | quote }}",
        "encoded": "{{ .password | b64enc }}",
        "fallback": '{{ .missing | default "none" }}',
    }
    apply(api, _templated(ns, "templated", key, data))
    wait_value(
        api,
        "templated",
        ns,
        {
            "dsn": b'postgres://app:FIRST@db:5432/"app"',
            "encoded": base64.b64encode(b"first"),
            "fallback": b"none",
        },
    )


def test_a_template_that_does_not_parse_is_a_status_reason_and_a_warning(synced: Synced) -> None:
    api, ns = synced.apiserver, synced.namespace
    key = synced.remote()
    apply(api, _templated(ns, "broken", key, {"dsn": "{{ .password | nosuchfunction }}"}))
    failed = wait_ready(api, "broken", ns, status="False")
    assert failed["reason"] == "SecretSyncedError"
    assert "spec.target.template.data.dsn" in failed["message"]
    assert "first" not in failed["message"]
    wait_until(
        lambda: any(
            event["type"] == "Warning"
            and event["reason"] == "UpdateFailed"
            and "spec.target.template.data.dsn" in (event.get("note") or "")
            for event in events_for(api, "broken", ns)
        ),
        timeout=60,
        what="a Warning UpdateFailed Event naming the template key",
    )
    assert _absent(api, "broken", ns)


def test_custom_delimiters_render_and_leave_braces_literal(
    sync_crds: KubeApiserver, openbao_audited: AuditedOpenBao
) -> None:
    namespace = new_namespace(sync_crds, "delims")
    key = f"delims/{secrets.token_hex(4)}"
    kv_put(openbao_audited, key, username="app", password="first")
    apply(
        sync_crds,
        token_secret(namespace, openbao_audited.root_token),
        vault_store(openbao_audited, namespace),
        _templated(
            namespace,
            "helm-safe",
            key,
            {
                "password": "<< .password >>",
                "literal": "{{ x }}",
                "both": "<< .user >>-{{ .user }}",
            },
        ),
    )
    with SyncControllerThread.for_namespaces(sync_crds, namespace, delimiters=("<<", ">>")):
        wait_value(
            sync_crds,
            "helm-safe",
            namespace,
            {"password": b"first", "literal": b"{{ x }}", "both": b"app-{{ .user }}"},
        )
