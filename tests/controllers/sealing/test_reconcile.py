"""The reconcile loop against the real kube-apiserver: SealedSecrets sealed by the independent
reference sealer become Secrets exactly as upstream writes them, with upstream's status, events
and ownership rules (spec §2.4 to §2.7).

One controller term runs in a thread for the whole module (``ControllerThread``) on one
namespace, with a key ring the tests fill directly; every test works on objects of its own and
waits on what the controller writes (condition, Secret, Event), never on time.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sealbox.controllers.sealing.reconcile import ReconcileOptions
from sealbox.sealing import KeyRing, SealingKey
from tests.controllers.sealing.controller_support import (
    WAIT_SECONDS,
    ControllerThread,
    apply,
    condition,
    events_for,
    get,
    sealed_secret,
    secret_data,
    wait_for_condition,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration

MAX_RETRIES = 2


@pytest.fixture(scope="module")
def namespace(sealed_secret_crd: KubeApiserver) -> str:
    name = f"t-reconcile-{secrets.token_hex(3)}"
    sealed_secret_crd.kubectl("create", "namespace", name)
    return name


@pytest.fixture(scope="module")
def keys(sealing_keys: list[SealingKey]) -> tuple[SealingKey, SealingKey]:
    """The controller's key, and one it does not hold."""
    return sealing_keys[0], sealing_keys[1]


@pytest.fixture(scope="module")
def controller(
    sealed_secret_crd: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> Iterator[ControllerThread]:
    thread = ControllerThread(
        Path(sealed_secret_crd.kubeconfig),
        KeyRing([keys[0]]),
        namespaces=(namespace,),
        options=ReconcileOptions(max_unseal_retries=MAX_RETRIES),
    ).start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def api(sealed_secret_crd: KubeApiserver, controller: ControllerThread) -> KubeApiserver:
    return sealed_secret_crd


def _uid(api: KubeApiserver, name: str, namespace: str) -> str:
    obj = get(api, "sealedsecret", name, namespace)
    assert obj is not None
    return str(obj["metadata"]["uid"])


def _wait_secret(api: KubeApiserver, name: str, namespace: str) -> dict[str, Any]:
    wait_until(
        lambda: get(api, "secret", name, namespace) is not None,
        timeout=WAIT_SECONDS,
        what=f"Secret {name}",
    )
    secret = get(api, "secret", name, namespace)
    assert secret is not None
    return secret


@pytest.mark.parametrize("scope", ["strict", "namespace-wide", "cluster-wide"])
def test_every_scope_unseals_with_upstreams_owner_status_and_event(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey], scope: str
) -> None:
    name = f"scope-{scope}"
    items = {"password": b"s3cr3t-" + scope.encode(), "user": b"admin"}
    apply(api, sealed_secret(name, namespace, items, keys[0].public_key, scope=scope))
    secret = _wait_secret(api, name, namespace)
    assert secret_data(api, name, namespace) == items
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "name": name,
            "uid": _uid(api, name, namespace),
            "controller": True,
        }
    ]
    synced = wait_for_condition(api, name, namespace, status="True", reason="Unsealed")
    assert synced["message"] == ""
    assert synced["lastUpdateTime"]
    assert synced["lastTransitionTime"]
    sealed = get(api, "sealedsecret", name, namespace)
    assert sealed is not None
    assert sealed["status"]["observedGeneration"] == sealed["metadata"]["generation"]
    wait_until(lambda: bool(events_for(api, name, namespace)), timeout=WAIT_SECONDS, what="event")
    (event,) = events_for(api, name, namespace)
    assert (event["type"], event["reason"], event["note"]) == (
        "Normal",
        "Unsealed",
        "SealedSecret unsealed successfully",
    )
    assert event["reportingInstance"] == "reconcile-test"
    assert b"s3cr3t" not in json.dumps(events_for(api, name, namespace)).encode()


def test_template_metadata_type_immutable_and_data_are_carried(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    template = {
        "metadata": {
            "name": "tmpl",
            "namespace": namespace,
            "labels": {"app": "web"},
            "annotations": {"team": "payments"},
        },
        "type": "kubernetes.io/basic-auth",
        "immutable": True,
        "data": {"url": 'postgres://{{ index . "username" }}:{{ .password }}@db/app'},
    }
    items = {"username": b"app", "password": b"pw"}
    apply(api, sealed_secret("tmpl", namespace, items, keys[0].public_key, template=template))
    secret = _wait_secret(api, "tmpl", namespace)
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["immutable"] is True
    assert secret["metadata"]["labels"] == {"app": "web"}
    assert secret["metadata"]["annotations"] == {"team": "payments"}
    assert secret_data(api, "tmpl", namespace) == {
        "username": b"app",
        "password": b"pw",
        "url": b"postgres://app:pw@db/app",
    }


def test_an_envelope_value_unseals(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    items = {"token": b"from-the-envelope"}
    apply(api, sealed_secret("envelope", namespace, items, keys[0].public_key, envelope=True))
    _wait_secret(api, "envelope", namespace)
    assert secret_data(api, "envelope", namespace) == items


def test_a_secret_deleted_by_hand_comes_back(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    items = {"k": b"v"}
    apply(api, sealed_secret("comes-back", namespace, items, keys[0].public_key))
    first = _wait_secret(api, "comes-back", namespace)
    api.kubectl("delete", "secret", "comes-back", "-n", namespace)
    wait_until(
        lambda: (
            (get(api, "secret", "comes-back", namespace) or first)["metadata"]["uid"]
            != first["metadata"]["uid"]
        ),
        timeout=WAIT_SECONDS,
        what="the Secret recreated",
    )
    assert secret_data(api, "comes-back", namespace) == items


def _plain_secret(name: str, namespace: str, annotations: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "data": {"mine": base64.b64encode(b"keep me").decode()},
        }
    )


def test_a_foreign_secret_is_left_alone_with_reason_foreign_secret(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    api.kubectl("create", "-f", "-", stdin=_plain_secret("foreign", namespace, {"owner": "me"}))
    before = get(api, "secret", "foreign", namespace)
    apply(api, sealed_secret("foreign", namespace, {"k": b"v"}, keys[0].public_key))
    synced = wait_for_condition(api, "foreign", namespace, status="False", reason="ForeignSecret")
    message = 'Resource "foreign" already exists and is not managed by SealedSecret'
    assert synced["message"] == message
    assert get(api, "secret", "foreign", namespace) == before
    (event,) = events_for(api, "foreign", namespace)
    assert (event["type"], event["reason"], event["note"]) == (
        "Warning",
        "ErrUpdateFailed",
        message,
    )


def test_managed_takes_over(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    managed = {"sealedsecrets.bitnami.com/managed": "true"}
    api.kubectl("create", "-f", "-", stdin=_plain_secret("managed", namespace, managed))
    apply(api, sealed_secret("managed", namespace, {"k": b"v"}, keys[0].public_key))
    wait_for_condition(api, "managed", namespace, status="True", reason="Unsealed")
    secret = get(api, "secret", "managed", namespace)
    assert secret is not None
    assert secret_data(api, "managed", namespace) == {"k": b"v"}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == _uid(api, "managed", namespace)
    assert "annotations" not in secret["metadata"]  # replaced by the template's: none


def test_patch_merges_and_keeps_cluster_only_keys(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    patch = {"sealedsecrets.bitnami.com/patch": "true"}
    api.kubectl("create", "-f", "-", stdin=_plain_secret("patched", namespace, patch))
    apply(api, sealed_secret("patched", namespace, {"k": b"v"}, keys[0].public_key))
    wait_for_condition(api, "patched", namespace, status="True", reason="Unsealed")
    secret = get(api, "secret", "patched", namespace)
    assert secret is not None
    assert secret_data(api, "patched", namespace) == {"k": b"v", "mine": b"keep me"}
    assert secret["metadata"]["annotations"] == patch
    assert "ownerReferences" not in secret["metadata"]  # patch alone does not take ownership


def test_an_immutable_secret_refusing_the_update_gives_reason_immutable(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    template = {"immutable": True}
    public = keys[0].public_key
    apply(api, sealed_secret("frozen", namespace, {"k": b"v1"}, public, template=template))
    wait_for_condition(api, "frozen", namespace, status="True", reason="Unsealed")
    apply(api, sealed_secret("frozen", namespace, {"k": b"v2"}, public, template=template))
    synced = wait_for_condition(api, "frozen", namespace, status="False", reason="Immutable")
    assert "the target Secret is immutable" in synced["message"]
    assert secret_data(api, "frozen", namespace) == {"k": b"v1"}
    reasons = [e["reason"] for e in events_for(api, "frozen", namespace)]
    assert reasons == ["Unsealed", "ErrUpdateFailed"]  # once: an immutable Secret is not retried


def test_a_wrong_key_is_no_matching_key_and_a_later_success_clears_it(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    apply(api, sealed_secret("wrong-key", namespace, {"k": b"v"}, keys[1].public_key))
    failed = wait_for_condition(api, "wrong-key", namespace, status="False", reason="NoMatchingKey")
    assert failed["message"]
    assert get(api, "secret", "wrong-key", namespace) is None
    (event,) = events_for(api, "wrong-key", namespace)
    assert event["type"] == "Warning"
    assert event["reason"] == "ErrUnsealFailed"
    assert event["note"].startswith("Failed to unseal: ")
    apply(api, sealed_secret("wrong-key", namespace, {"k": b"v"}, keys[0].public_key))
    healed = wait_for_condition(api, "wrong-key", namespace, status="True", reason="Unsealed")
    assert healed["message"] == ""
    assert healed["lastTransitionTime"] >= failed["lastTransitionTime"]
    assert secret_data(api, "wrong-key", namespace) == {"k": b"v"}
    assert condition(api, "wrong-key", namespace) == healed


def test_a_label_change_does_not_unseal_again(
    api: KubeApiserver,
    namespace: str,
    keys: tuple[SealingKey, SealingKey],
    controller: ControllerThread,
) -> None:
    public = keys[0].public_key
    apply(api, sealed_secret("labelled", namespace, {"k": b"v"}, public))
    wait_for_condition(api, "labelled", namespace, status="True", reason="Unsealed")
    requests = controller.unseal_requests()
    api.kubectl("label", "sealedsecret", "labelled", "-n", namespace, "touched=yes")
    # one worker takes keys in order: once the next object is done, the label change was seen
    apply(api, sealed_secret("after-label", namespace, {"k": b"v"}, public))
    wait_for_condition(api, "after-label", namespace, status="True", reason="Unsealed")
    assert controller.unseal_requests() == requests + 1


def test_a_value_sealed_for_another_scope_is_scope_mismatch(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    obj = sealed_secret("scoped", namespace, {"k": b"v"}, keys[0].public_key, scope="strict")
    obj["metadata"]["annotations"] = {"sealedsecrets.bitnami.com/namespace-wide": "true"}
    apply(api, obj)
    failed = wait_for_condition(api, "scoped", namespace, status="False", reason="ScopeMismatch")
    assert "k" in failed["message"]
    assert get(api, "secret", "scoped", namespace) is None


def test_a_template_that_does_not_render_is_template_error(
    api: KubeApiserver, namespace: str, keys: tuple[SealingKey, SealingKey]
) -> None:
    template = {"data": {"broken": "{{ .k | nosuchfunction }}"}}
    apply(
        api,
        sealed_secret("tmpl-bad", namespace, {"k": b"v"}, keys[0].public_key, template=template),
    )
    failed = wait_for_condition(api, "tmpl-bad", namespace, status="False", reason="TemplateError")
    assert "broken" in failed["message"]
    (event,) = events_for(api, "tmpl-bad", namespace)
    assert event["reason"] == "ErrUnsealFailed"
