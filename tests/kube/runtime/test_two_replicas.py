"""Two replicas of a controller against the real apiserver: one acts, the other takes over.

The replicas run the test controller in ``replica.py`` as the ServiceAccount that
``deploy/rbac/controller-runtime-role.yaml`` grants (plus a Role for ConfigMaps), so the RBAC
template is proven sufficient. Times come from the replicas' own journals (one machine, one
clock); the lease is short (4 s, renew deadline 3 s, retry 0.5 s) to keep the tests quick.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import wait_until
from tests.kube.runtime.replica import ANNOTATION
from tests.kube.runtime.replicas import Replica, runtime_identity

pytestmark = pytest.mark.integration

LEASE_SECONDS = 4.0
RETRY_SECONDS = 0.5
CONFIGMAPS = 6
_WAIT_SECONDS = 60.0


@pytest.fixture
def replicas(
    kube_apiserver: KubeApiserver, kube_namespace: str, tmp_path: Path
) -> Iterator[tuple[Replica, Replica]]:
    for index in range(CONFIGMAPS):
        kube_apiserver.kubectl(
            "create", "configmap", f"cm-{index}", "-n", kube_namespace, "--from-literal=k=v"
        )
    kubeconfig = runtime_identity(kube_apiserver, kube_namespace, tmp_path)
    pair = tuple(
        Replica.start(
            identity,
            kubeconfig=kubeconfig,
            namespace=kube_namespace,
            directory=tmp_path,
            lease_duration=LEASE_SECONDS,
            renew_deadline=3.0,
            retry_period=RETRY_SECONDS,
        )
        for identity in ("replica-a", "replica-b")
    )
    a, b = pair
    try:
        yield a, b
    finally:
        for replica in pair:
            replica.process.stop()
        for replica in pair:
            print(f"--- {replica.identity} log tail:\n{replica.process.log_tail(30)}")


def _annotated_by(apiserver: KubeApiserver, namespace: str) -> set[str]:
    listing = json.loads(
        apiserver.kubectl("get", "configmaps", "-n", namespace, "-o", "json").stdout
    )
    names = [i for i in listing["items"] if i["metadata"]["name"].startswith("cm-")]
    return {(i["metadata"].get("annotations") or {}).get(ANNOTATION, "") for i in names}


def _one_leader(apiserver: KubeApiserver, namespace: str, pair: tuple[Replica, Replica]) -> Replica:
    wait_until(lambda: any(r.leading() for r in pair), timeout=_WAIT_SECONDS, what="a leader")
    (leader,) = [r for r in pair if r.leading()]
    wait_until(
        lambda: _annotated_by(apiserver, namespace) == {leader.identity},
        timeout=_WAIT_SECONDS,
        what=f"every ConfigMap reconciled by {leader.identity}",
    )
    return leader


def _assert_never_both(pair: tuple[Replica, Replica], killed_at: float) -> None:
    """No key was reconciled by both replicas at overlapping times."""
    first, second = pair
    for (key_1, start_1, end_1), (key_2, start_2, end_2) in itertools.product(
        first.intervals(), second.intervals()
    ):
        if key_1 != key_2:
            continue
        end_1 = killed_at if end_1 is None else end_1
        end_2 = killed_at if end_2 is None else end_2
        assert end_1 < start_2 or end_2 < start_1, (key_1, start_1, end_1, start_2, end_2)


def test_one_replica_acts_and_the_other_takes_over_when_it_is_killed(
    kube_apiserver: KubeApiserver, kube_namespace: str, replicas: tuple[Replica, Replica]
) -> None:
    leader = _one_leader(kube_apiserver, kube_namespace, replicas)
    (standby,) = [r for r in replicas if r is not leader]
    assert not standby.entries("start"), "the standby reconciled while the other led"
    assert not standby.leading()

    killed_at = time.time()
    leader.process.signal(signal.SIGKILL)
    wait_until(
        lambda: _annotated_by(kube_apiserver, kube_namespace) == {standby.identity},
        timeout=_WAIT_SECONDS,
        what=f"{standby.identity} taking over",
    )
    took_over = standby.entries("leading")[0]["t"]
    last_renewal = max(e["sent"] for e in leader.entries("renewed"))
    print(f"takeover after SIGKILL: {took_over - killed_at:.2f} s (lease {LEASE_SECONDS} s)")
    # Safety: the standby waited out a full lease after the last renewal the leader sent.
    assert took_over > last_renewal + LEASE_SECONDS
    # Liveness: within one lease duration plus the standby's poll period (and a little slack
    # for two requests on a loaded machine).
    assert took_over - killed_at < LEASE_SECONDS + 2 * RETRY_SECONDS + 2.0
    _assert_never_both(replicas, killed_at)


def test_sigterm_releases_the_lease_and_the_other_takes_over_at_once(
    kube_apiserver: KubeApiserver, kube_namespace: str, replicas: tuple[Replica, Replica]
) -> None:
    leader = _one_leader(kube_apiserver, kube_namespace, replicas)
    (standby,) = [r for r in replicas if r is not leader]

    leader.process.signal(signal.SIGTERM)
    wait_until(
        lambda: _annotated_by(kube_apiserver, kube_namespace) == {standby.identity},
        timeout=_WAIT_SECONDS,
        what=f"{standby.identity} taking over",
    )
    assert leader.process.stop() == 0
    assert [e["event"] for e in leader.entries()][-2:] == ["stopped-leading", "exit"]
    stopped = leader.entries("stopped-leading")[0]["t"]
    took_over = standby.entries("leading")[0]["t"]
    last_renewal = max(e["sent"] for e in leader.entries("renewed"))
    print(f"takeover after SIGTERM: {took_over - stopped:.2f} s (lease {LEASE_SECONDS} s)")
    # The release, not expiry, handed it over: the lease could not have expired yet.
    assert took_over < last_renewal + LEASE_SECONDS
    _assert_never_both(replicas, time.time())
    events = json.loads(
        kube_apiserver.kubectl(
            "get", "events.events.k8s.io", "-n", kube_namespace, "-o", "json"
        ).stdout
    )["items"]
    reporters = {(e["reportingController"], e["reportingInstance"]) for e in events}
    assert reporters == {("sealbox", leader.identity), ("sealbox", standby.identity)}
