"""Two replicas of ``sealbox controller sealing`` against the real apiserver: both serve the
certificate, exactly one unseals (every Event names the leader as ``reportingInstance``), and
after the leader stops the other takes over. Values are sealed kubeseal-style: to the
certificate fetched from ``/v1/cert.pem`` (of the standby, to show every replica serves it), by
the independent reference sealer.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.controllers.sealing.controller_support import (
    WAIT_SECONDS,
    apply,
    events_for,
    sealed_secret,
    secret_data,
    wait_for_condition,
)
from tests.controllers.sealing.replicas import SealingReplica
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def namespace(sealed_secret_crd: KubeApiserver) -> str:
    name = f"t-sealing-{secrets.token_hex(3)}"
    sealed_secret_crd.kubectl("create", "namespace", name)
    return name


@pytest.fixture(scope="module")
def pair(
    sealed_secret_crd: KubeApiserver, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SealingReplica, SealingReplica]]:
    directory = tmp_path_factory.mktemp("sealing-replicas")
    started: list[SealingReplica] = []
    try:
        for identity in ("sealing-a", "sealing-b"):
            started.append(
                SealingReplica.start(
                    identity,
                    kubeconfig=Path(sealed_secret_crd.kubeconfig),
                    namespace=namespace,
                    directory=directory,
                    flags=["--key-renew-period=0"],
                )
            )
        yield started[0], started[1]
    finally:
        for replica in started:
            replica.process.stop()
        for replica in started:
            print(f"--- {replica.identity} log tail:\n{replica.process.log_tail(30)}")


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _leader(pair: tuple[SealingReplica, SealingReplica]) -> SealingReplica:
    wait_until(
        lambda: sum(r.leading() for r in pair if r.process.running) == 1,
        timeout=WAIT_SECONDS,
        what="exactly one leader",
    )
    (leader,) = [r for r in pair if r.process.running and r.leading()]
    return leader


def test_one_replica_unseals_and_both_serve_the_certificate(
    sealed_secret_crd: KubeApiserver, namespace: str, pair: tuple[SealingReplica, SealingReplica]
) -> None:
    leader = _leader(pair)
    (standby,) = [r for r in pair if r is not leader]
    wait_until(lambda: standby.cert() is not None, timeout=WAIT_SECONDS, what="a certificate")
    assert standby.cert() == leader.cert()
    assert standby.get("/healthz") == (200, b"ok\n")
    public = _public_key(standby.cert() or b"")
    names = [f"one-{i}" for i in range(4)]
    for name in names:
        apply(sealed_secret_crd, sealed_secret(name, namespace, {"k": name.encode()}, public))
    for name in names:
        wait_for_condition(sealed_secret_crd, name, namespace, status="True", reason="Unsealed")
        assert secret_data(sealed_secret_crd, name, namespace) == {"k": name.encode()}
        instances = {e["reportingInstance"] for e in events_for(sealed_secret_crd, name, namespace)}
        assert instances == {leader.identity}
    status, metrics = leader.get("/metrics", metrics=True)
    assert status == 200
    assert b"sealed_secrets_controller_unseal_requests_total" in metrics
    assert b"sealbox_sealing_private_key_operations_total" in metrics
    assert b"sealbox_sealing_newest_key_backed_up 0.0" in metrics  # no backup made yet
    assert b'sealed_secrets_controller_condition_info{condition="Synced",name="one-0"' in metrics
    _, standby_metrics = standby.get("/metrics", metrics=True)
    assert b'sealed_secrets_controller_condition_info{condition="Synced"' not in standby_metrics


def test_sigusr1_renews_the_key_now(
    sealed_secret_crd: KubeApiserver, namespace: str, pair: tuple[SealingReplica, SealingReplica]
) -> None:
    leader = _leader(pair)
    (standby,) = [r for r in pair if r is not leader]
    before = leader.cert()
    leader.process.signal(signal.SIGUSR1)  # renewal is off (period 0): only the signal renews
    wait_until(
        lambda: standby.cert() not in (None, before),
        timeout=WAIT_SECONDS,
        what="a new certificate, served by the standby too",
    )
    assert leader.process.running


def test_the_standby_takes_over_when_the_leader_stops(
    sealed_secret_crd: KubeApiserver, namespace: str, pair: tuple[SealingReplica, SealingReplica]
) -> None:
    leader = _leader(pair)
    (standby,) = [r for r in pair if r is not leader]
    public = _public_key(standby.cert() or b"")
    leader.process.stop()
    assert _leader(pair) is standby
    apply(sealed_secret_crd, sealed_secret("after", namespace, {"k": b"v"}, public))
    wait_for_condition(sealed_secret_crd, "after", namespace, status="True", reason="Unsealed")
    (event,) = events_for(sealed_secret_crd, "after", namespace)
    assert event["reportingInstance"] == standby.identity
