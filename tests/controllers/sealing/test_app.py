"""``sealbox controller sealing``'s flags as a Deployment sets them: upstream's
``SEALED_SECRETS_<FLAG>`` variables, namespace selection, ``--old-gc-behavior``,
``--update-status`` off and ``--label-selector``, on one replica against the real apiserver; and
where the keys live when ``--key-namespace`` is not given.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry

from sealbox.cli import controller as controller_cli
from sealbox.cli.kube_options import KubeOptions
from sealbox.controllers.sealing import SealingMetrics, build_controller
from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import ControllerMetrics, EventRecorder
from sealbox.sealing import KeyRing
from tests.controllers.sealing.controller_support import (
    WAIT_SECONDS,
    apply,
    get,
    sealed_secret,
    secret_data,
)
from tests.controllers.sealing.replicas import SealingReplica
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def namespaces(sealed_secret_crd: KubeApiserver) -> tuple[str, str]:
    """The key namespace (also watched) and one more, watched through the environment."""
    suffix = secrets.token_hex(3)
    names = (f"t-app-keys-{suffix}", f"t-app-more-{suffix}")
    for name in names:
        sealed_secret_crd.kubectl("create", "namespace", name)
    return names


@pytest.fixture(scope="module")
def replica(
    sealed_secret_crd: KubeApiserver,
    namespaces: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SealingReplica]:
    started = SealingReplica.start(
        "flags",
        kubeconfig=Path(sealed_secret_crd.kubeconfig),
        namespace=namespaces[0],
        directory=tmp_path_factory.mktemp("sealing-app"),
        flags=["--old-gc-behavior", "--label-selector=team!=ignored"],
        env={
            "SEALED_SECRETS_ADDITIONAL_NAMESPACES": namespaces[1],
            "SEALED_SECRETS_UPDATE_STATUS": "false",
            "SEALED_SECRETS_KEY_RENEW_PERIOD": "0",
        },
    )
    try:
        yield started
    finally:
        started.process.stop()
        print(f"--- log tail:\n{started.process.log_tail(30)}")


def _public_key(replica: SealingReplica) -> rsa.RSAPublicKey:
    wait_until(lambda: replica.cert() is not None, timeout=WAIT_SECONDS, what="a certificate")
    key = x509.load_pem_x509_certificate(replica.cert() or b"").public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _wait_secret(api: KubeApiserver, name: str, namespace: str) -> None:
    wait_until(
        lambda: get(api, "secret", name, namespace) is not None,
        timeout=WAIT_SECONDS,
        what=f"Secret {namespace}/{name}",
    )


def test_an_additional_namespace_from_the_environment_is_unsealed_without_status(
    sealed_secret_crd: KubeApiserver, namespaces: tuple[str, str], replica: SealingReplica
) -> None:
    api, more = sealed_secret_crd, namespaces[1]
    apply(api, sealed_secret("extra", more, {"k": b"v"}, _public_key(replica)))
    _wait_secret(api, "extra", more)
    assert secret_data(api, "extra", more) == {"k": b"v"}
    sealed = get(api, "sealedsecret", "extra", more)
    assert sealed is not None
    assert "status" not in sealed  # SEALED_SECRETS_UPDATE_STATUS=false


def test_old_gc_behavior_deletes_the_secret_with_its_sealed_secret(
    sealed_secret_crd: KubeApiserver, namespaces: tuple[str, str], replica: SealingReplica
) -> None:
    api, keys_ns = sealed_secret_crd, namespaces[0]
    apply(api, sealed_secret("collected", keys_ns, {"k": b"v"}, _public_key(replica)))
    _wait_secret(api, "collected", keys_ns)
    api.kubectl("delete", "sealedsecret", "collected", "-n", keys_ns)
    wait_until(
        lambda: get(api, "secret", "collected", keys_ns) is None,
        timeout=WAIT_SECONDS,
        what="the Secret deleted with its SealedSecret",
    )


def test_a_sealed_secret_the_label_selector_excludes_is_left_alone(
    sealed_secret_crd: KubeApiserver, namespaces: tuple[str, str], replica: SealingReplica
) -> None:
    api, keys_ns = sealed_secret_crd, namespaces[0]
    public = _public_key(replica)
    ignored = sealed_secret("ignored", keys_ns, {"k": b"v"}, public, labels={"team": "ignored"})
    apply(api, ignored)
    apply(api, sealed_secret("selected", keys_ns, {"k": b"v"}, public, labels={"team": "a"}))
    _wait_secret(api, "selected", keys_ns)
    assert get(api, "secret", "ignored", keys_ns) is None
    events = json.loads(
        api.kubectl("get", "events.events.k8s.io", "-n", keys_ns, "-o", "json").stdout
    )["items"]
    assert all(e["regarding"]["name"] != "ignored" for e in events)


def test_the_key_namespace_defaults_to_the_pods_then_the_kubeconfig_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "ctx"}}],
        "current-context": "x",
    }
    kubeconfig.write_text(json.dumps(document))
    options = KubeOptions(kubeconfig=kubeconfig)
    absent = tmp_path / "no-service-account"
    monkeypatch.setattr(controller_cli, "_SERVICE_ACCOUNT_NAMESPACE", absent)
    assert controller_cli.own_namespace(options, {"POD_NAMESPACE": "pod-ns"}) == "pod-ns"
    assert controller_cli.own_namespace(options, {}) == "ctx"
    del document["contexts"][0]["context"]["namespace"]
    kubeconfig.write_text(json.dumps(document))
    assert controller_cli.own_namespace(options, {}) == "kube-system"
    mounted = tmp_path / "namespace"
    mounted.write_text("sa-ns\n")
    monkeypatch.setattr(controller_cli, "_SERVICE_ACCOUNT_NAMESPACE", mounted)
    assert controller_cli.own_namespace(options, {"POD_NAMESPACE": "pod-ns"}) == "sa-ns"


def test_skip_recreate_watches_no_secrets(sealed_secret_crd: KubeApiserver) -> None:
    """``--skip-recreate`` leaves out the owned-Secret watch; without it there is one per
    watched namespace, next to each SealedSecret informer."""
    client = async_client(KubeTarget(kubeconfig=Path(sealed_secret_crd.kubeconfig)))

    def kinds(*, skip_recreate: bool) -> list[str]:
        metrics = ControllerMetrics(CollectorRegistry())
        controller = build_controller(
            client,
            KeyRing(),
            namespaces=("a", "b"),
            events=EventRecorder(client, instance="t"),
            metrics=metrics,
            sealing_metrics=SealingMetrics(metrics.registry, private_key_operations=lambda: 0),
            skip_recreate=skip_recreate,
        )
        return [type(informer).__name__ for informer in controller.informers]

    assert kinds(skip_recreate=False) == [
        "Informer",
        "Informer",
        "OwnedSecretDeletions",
        "OwnedSecretDeletions",
    ]
    assert kinds(skip_recreate=True) == ["Informer", "Informer"]
