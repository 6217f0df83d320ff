"""``sealbox controller sealing``'s flags as a Deployment sets them: upstream's
``SEALED_SECRETS_<FLAG>`` variables, namespace selection, ``--old-gc-behavior``,
``--update-status`` off, ``--label-selector``, the new key's ``--key-ttl`` and
``--privatekey-labels``/``--privatekey-annotations``, and ``--rate-limit-burst`` on
``/v1/verify``, on one replica against the real apiserver; what the flags become
(:func:`sealing_settings`); and where the keys live when ``--key-namespace`` is not given.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import secrets
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry

from sealbox.cli import controller_namespace
from sealbox.cli.controller import sealing_settings
from sealbox.cli.controller_flags import SealingFlags
from sealbox.cli.kube_options import KubeOptions
from sealbox.controllers.sealing import (
    ReconcileOptions,
    SealingMetrics,
    build_controller,
    parse_label_selector,
)
from sealbox.controllers.sealing.selector import server_side
from sealbox.errors import InputError
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
from tests.kube.runtime.replicas import eventually

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
        flags=[
            "--old-gc-behavior",
            "--label-selector=team!=ignored",
            "--privatekey-labels=team=security,tier=keys",
            "--privatekey-annotations=example.com/owner=ops team",
        ],
        env={
            "SEALED_SECRETS_ADDITIONAL_NAMESPACES": namespaces[1],
            "SEALED_SECRETS_UPDATE_STATUS": "false",
            "SEALED_SECRETS_KEY_RENEW_PERIOD": "0",
            "SEALED_SECRETS_KEY_TTL": "48h",
            "SEALED_SECRETS_RATE_LIMIT_BURST": "4",
        },
    )
    try:
        yield started
    finally:
        started.process.stop()
        print(f"--- log tail:\n{started.process.log_tail(30)}")


def _wait_cert(replica: SealingReplica) -> bytes:
    wait_until(lambda: replica.cert() is not None, timeout=WAIT_SECONDS, what="a certificate")
    return replica.cert() or b""


def _public_key(replica: SealingReplica) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(_wait_cert(replica)).public_key()
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


def test_the_label_selector_goes_to_the_apiserver_and_excluded_objects_are_left_alone(
    sealed_secret_crd: KubeApiserver, namespaces: tuple[str, str], replica: SealingReplica
) -> None:
    """The replica (``--label-selector=team!=ignored``) leaves an excluded SealedSecret alone;
    and the controller's SealedSecret informer, built with that selector, never lists, watches
    or caches what it excludes (the apiserver filters), while one relabelled out leaves it."""
    api, ns = sealed_secret_crd, namespaces[0]
    public = _public_key(replica)

    def sealed(name: str, team: str) -> dict[str, Any]:
        return sealed_secret(name, ns, {"k": b"v"}, public, labels={"team": team})

    apply(api, sealed("ignored", "ignored"))
    apply(api, sealed("selected", "a"))
    _wait_secret(api, "selected", ns)
    assert get(api, "secret", "ignored", ns) is None
    listed = api.kubectl("get", "events.events.k8s.io", "-n", ns, "-o", "json").stdout
    events = json.loads(listed)["items"]
    assert all(e["regarding"]["name"] != "ignored" for e in events)

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=Path(api.kubeconfig)))
        metrics = ControllerMetrics(CollectorRegistry())
        controller = build_controller(
            client,
            KeyRing(),
            namespaces=(ns,),
            events=EventRecorder(client, instance="t"),
            metrics=metrics,
            sealing_metrics=SealingMetrics(metrics.registry, private_key_operations=lambda: 0),
            options=ReconcileOptions(label_selector=parse_label_selector("team!=ignored")),
            skip_recreate=True,
        )
        (informer,) = controller.informers
        announced: list[str] = []
        informer.subscribe(announced.append)
        task = asyncio.create_task(informer.run())
        try:
            await asyncio.wait_for(informer.synced.wait(), WAIT_SECONDS)
            assert f"{ns}/selected" in informer.cached_keys()
            assert f"{ns}/ignored" not in informer.cached_keys()
            await asyncio.to_thread(apply, api, sealed("late-ignored", "ignored"))
            await asyncio.to_thread(apply, api, sealed("late", "b"))
            relabel = ("label", "sealedsecret", "selected", "-n", ns, "team=ignored", "--overwrite")
            await asyncio.to_thread(api.kubectl, *relabel)
            await eventually(
                lambda: (
                    f"{ns}/late" in informer.cached_keys()
                    and f"{ns}/selected" not in informer.cached_keys()
                ),
                what="the late object in the cache and the relabelled one out of it",
            )
            excluded = {f"{ns}/ignored", f"{ns}/late-ignored"}
            assert not excluded & (set(announced) | set(informer.cached_keys()))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    asyncio.run(scenario())


def test_the_label_selector_is_sent_as_the_apiserver_reads_it() -> None:
    selector = parse_label_selector("env in (stage, prod),app==web,tier!=cache,!legacy,team")
    assert str(selector) == "env in (prod,stage),app=web,tier!=cache,!legacy,team"
    assert server_side(selector) == list(selector.requirements)
    assert server_side(parse_label_selector(" ")) is None  # everything: no selector sent
    assert server_side(lambda labels: True) is None  # a predicate stays with the reconciler


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("a/b/c=x", "not a DNS subdomain"),
        ("Example.COM/app=web", "not a DNS subdomain"),
        (f"app={'v' * 64}", "not a label value"),
        ("app=web-", "not a label value"),
        ("env in ()", "empty set"),
        ("-app", "not a label name"),
    ],
)
def test_a_selector_the_apiserver_would_refuse_is_refused_at_the_flag(
    text: str, named: str
) -> None:
    with pytest.raises(InputError, match="--label-selector") as refused:
        parse_label_selector(text)
    assert named in str(refused.value)


def test_the_new_key_carries_the_privatekey_metadata_and_the_key_ttl(
    sealed_secret_crd: KubeApiserver, namespaces: tuple[str, str], replica: SealingReplica
) -> None:
    served = x509.load_pem_x509_certificate(_wait_cert(replica))
    listed = sealed_secret_crd.kubectl(
        "get", "secrets", "-n", namespaces[0], "-o", "json",
        "-l", "sealedsecrets.bitnami.com/sealed-secrets-key=active",
    )  # fmt: skip
    (key_secret,) = json.loads(listed.stdout)["items"]
    meta = key_secret["metadata"]
    assert {k: meta["labels"].get(k) for k in ("team", "tier")} == {
        "team": "security",
        "tier": "keys",
    }
    assert meta["annotations"]["example.com/owner"] == "ops team"
    stored = x509.load_pem_x509_certificate(base64.b64decode(key_secret["data"]["tls.crt"]))
    assert stored == served
    lifetime = stored.not_valid_after_utc - stored.not_valid_before_utc
    assert lifetime == datetime.timedelta(hours=48)  # SEALED_SECRETS_KEY_TTL, not 87600h


def test_verify_allows_the_burst_the_environment_sets(
    namespaces: tuple[str, str], replica: SealingReplica
) -> None:
    """GCRA lets ``burst + 1`` requests through at once: SEALED_SECRETS_RATE_LIMIT_BURST=4 is a
    limit of 5 (upstream's default 2 would say 3)."""
    body = json.dumps(sealed_secret("verified", namespaces[0], {"k": b"v"}, _public_key(replica)))
    request = urllib.request.Request(
        f"http://127.0.0.1:{replica.http_port}/v1/verify",
        data=body.encode(),
        headers={"X-Forwarded-For": f"10.9.{secrets.randbelow(250)}.1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["X-RateLimit-Limit"] == "5"


def test_the_flags_become_the_settings(tmp_path: Path) -> None:
    """What each new flag sets (upstream's names and formats), and the defaults it keeps."""
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(json.dumps(_KUBECONFIG))
    kube = KubeOptions(kubeconfig=kubeconfig)
    defaults = sealing_settings(SealingFlags(key_namespace="keys"), kube)
    assert (defaults.rate_limit, defaults.rate_limit_burst) == (2, 2)
    assert defaults.key_validity == datetime.timedelta(hours=87600)
    assert (defaults.key_labels, defaults.key_annotations) == ({}, {})
    flags = SealingFlags(
        key_namespace="keys",
        key_ttl="90m",
        privatekey_labels="team=security, example.com/tier=keys,",
        privatekey_annotations="example.com/owner=ops team,empty=",
        rate_limit=0,
        rate_limit_burst=7,
    )
    settings = sealing_settings(flags, kube)
    assert settings.key_validity == datetime.timedelta(minutes=90)
    assert settings.key_labels == {"team": "security", "example.com/tier": "keys"}
    assert settings.key_annotations == {"example.com/owner": "ops team", "empty": ""}
    assert (settings.rate_limit, settings.rate_limit_burst) == (0, 7)


_KUBECONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "ctx"}}],
    "current-context": "x",
}


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
    monkeypatch.setattr(controller_namespace, "_SERVICE_ACCOUNT_NAMESPACE", absent)
    assert controller_namespace.own_namespace(options, {"POD_NAMESPACE": "pod-ns"}) == "pod-ns"
    assert controller_namespace.own_namespace(options, {}) == "ctx"
    del document["contexts"][0]["context"]["namespace"]
    kubeconfig.write_text(json.dumps(document))
    assert controller_namespace.own_namespace(options, {}) == "kube-system"
    mounted = tmp_path / "namespace"
    mounted.write_text("sa-ns\n")
    monkeypatch.setattr(controller_namespace, "_SERVICE_ACCOUNT_NAMESPACE", mounted)
    assert controller_namespace.own_namespace(options, {"POD_NAMESPACE": "pod-ns"}) == "sa-ns"


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
