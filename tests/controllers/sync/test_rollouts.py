"""Rollouts against the real apiserver: who is restarted, how often, and who is counted stale.

There is no controller-manager or kubelet: a restart is seen on the workload itself (a new pod
template ``restartedAt`` and generation), Pods stay Pending until the test writes their status.
The test watches the workloads with its own informers and waits on what they report; the only
bounded waits are the ones that prove nothing more happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Pod, Secret
from lightkube.types import PatchType

from sealbox.controllers.sync.rollouts import Rollouts
from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import Informer
from sealbox.sync import RESTART_ON_CHANGE, RESTARTED_AT
from tests.integration.kube_apiserver import KubeApiserver
from tests.kube.runtime.replicas import eventually

pytestmark = pytest.mark.integration

WINDOW = 1.0
_WAIT_SECONDS = 60.0  # bounds a broken test; a rollout takes about one window
_PW = {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}


async def _create(client: AsyncClient, resource: type, body: dict[str, Any]) -> None:
    await client.create(cast(Any, resource).from_dict(body))


class RecordedMetrics:
    """The calls Rollouts makes to its metrics, as the gauges would hold them."""

    def __init__(self) -> None:
        self.restarts: list[tuple[str, str]] = []
        self.stale: dict[tuple[str, str], int] = {}
        self.forgotten: list[tuple[str, str]] = []

    def restart(self, namespace: str, kind: str) -> None:
        self.restarts.append((namespace, kind))

    def stale_consumers(self, namespace: str, secret: str, count: int) -> None:
        self.stale[(namespace, secret)] = count

    def forget_secret(self, namespace: str, secret: str) -> None:
        self.stale.pop((namespace, secret), None)
        self.forgotten.append((namespace, secret))


def _pod_spec(container: dict[str, Any], volumes: list[dict[str, Any]] | None = None) -> Any:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "app:1", **container}]}
    if volumes:
        spec["volumes"] = volumes
    return spec


def _workload(
    kind: str, name: str, namespace: str, spec: dict[str, Any], *, opted_in: bool
) -> dict[str, Any]:
    labels = {"app": name}
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {RESTART_ON_CHANGE: "true"} if opted_in else {},
        },
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }
    if kind == "StatefulSet":
        body["spec"]["serviceName"] = name
    return body


async def _create_workloads(client: AsyncClient, namespace: str) -> None:
    volume = [{"name": "db", "secret": {"secretName": "db"}}]
    env_from = {"envFrom": [{"secretRef": {"name": "db"}}]}
    mount = {"volumeMounts": [{"name": "db", "mountPath": "/etc/db"}]}
    await _create(
        client,
        Secret,
        {"metadata": {"name": "db", "namespace": namespace}, "stringData": {"pw": "a"}},
    )
    for body in (
        _workload("Deployment", "env", namespace, _pod_spec({"env": [_PW]}), opted_in=True),
        _workload("Deployment", "volume", namespace, _pod_spec(mount, volume), opted_in=True),
        _workload("Deployment", "plain", namespace, _pod_spec({"env": [_PW]}), opted_in=False),
    ):
        await _create(client, Deployment, body)
    sts = _workload("StatefulSet", "sts", namespace, _pod_spec(env_from), opted_in=True)
    await _create(client, StatefulSet, sts)


class Seen:
    """Every pod template ``restartedAt`` and generation the test's own watch saw, per object."""

    def __init__(self) -> None:
        self.stamps: dict[str, list[str]] = {}
        self.generations: dict[str, set[int]] = {}

    def handler(self, kind: str, informer: Informer) -> Callable[[str], None]:
        def handle(key: str) -> None:
            obj = informer.get(key)
            if obj is None:
                return
            name = f"{kind}/{obj.metadata.name}"
            self.generations.setdefault(name, set()).add(obj.metadata.generation)
            template = obj.spec.template.metadata
            stamp = ((template.annotations if template else None) or {}).get(RESTARTED_AT)
            stamps = self.stamps.setdefault(name, [])
            if stamp is not None and stamp not in stamps:
                stamps.append(stamp)

        return handle

    def restarts(self, name: str) -> int:
        return len(self.stamps.get(name, []))


def _ticking() -> Callable[[], datetime]:
    """A wall clock a minute further on each call: every restart patch carries a new stamp, so
    an extra patch cannot hide behind an equal one."""
    ticks = iter(range(1_000_000))
    start = datetime.now(UTC)
    return lambda: start + timedelta(minutes=next(ticks))


@asynccontextmanager
async def _running(
    apiserver: KubeApiserver,
    namespace: str,
    metrics: RecordedMetrics,
    seen: Seen | None = None,
    *,
    target: KubeTarget | None = None,
) -> AsyncIterator[tuple[AsyncClient, Rollouts]]:
    """Rollouts (as the admin, or ``target``'s user) with its informers and release loop in
    this event loop (and the test's own watch of the workloads when ``seen`` is given); all
    cancelled on exit."""
    client = async_client(target or KubeTarget(kubeconfig=apiserver.kubeconfig))
    rollouts = Rollouts(
        client, namespaces=(namespace,), window=WINDOW, metrics=metrics, clock_wall=_ticking()
    )
    informers = list(rollouts.informers)
    if seen is not None:
        for kind, resource in (("Deployment", Deployment), ("StatefulSet", StatefulSet)):
            watched = Informer(client, resource, namespace=namespace)
            watched.subscribe(seen.handler(kind, watched))
            informers.append(watched)
    tasks = [asyncio.create_task(informer.run()) for informer in informers]
    tasks.append(asyncio.create_task(rollouts.run()))
    try:
        await asyncio.wait_for(
            asyncio.gather(*(informer.synced.wait() for informer in informers)), _WAIT_SECONDS
        )
        yield client, rollouts
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()


def test_quick_changes_roll_each_reader_at_start_once_and_nothing_else(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace

    async def scenario() -> None:
        setup = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        try:
            await _create_workloads(setup, ns)
        finally:
            await setup.close()
        metrics, seen = RecordedMetrics(), Seen()
        async with _running(kube_apiserver, ns, metrics, seen) as (_, rollouts):
            await eventually(lambda: len(rollouts.index) == 4, what="four workloads indexed")
            assert all(seen.restarts(name) == 0 for name in seen.stamps)  # starting rolls none

            for _ in range(3):  # three changes, 0.2 s apart, inside one window
                rollouts.changed(ns, "db", frozenset({"pw"}), datetime.now(UTC))
                await asyncio.sleep(0.2)
            await eventually(
                lambda: (
                    seen.restarts("Deployment/env") == 1 and seen.restarts("StatefulSet/sts") == 1
                ),
                what="the env Deployment and the envFrom StatefulSet to roll",
                timeout=_WAIT_SECONDS,
            )
            await asyncio.sleep(WINDOW + 1.0)  # proves no second rollout follows
            assert seen.restarts("Deployment/env") == 1
            assert seen.generations["Deployment/env"] == {1, 2}
            for untouched in ("Deployment/volume", "Deployment/plain"):
                assert seen.restarts(untouched) == 0
                assert seen.generations[untouched] == {1}
            assert sorted(metrics.restarts) == [(ns, "Deployment"), (ns, "StatefulSet")]

            # A key the env Deployment does not read: only envFrom (every key) rolls again.
            rollouts.changed(ns, "db", frozenset({"other"}), datetime.now(UTC))
            await eventually(
                lambda: seen.restarts("StatefulSet/sts") == 2,
                what="the envFrom StatefulSet to roll again",
                timeout=_WAIT_SECONDS,
            )
            await asyncio.sleep(WINDOW)  # the same release would have patched env first
            assert seen.restarts("Deployment/env") == 1
            assert seen.restarts("Deployment/volume") == seen.restarts("Deployment/plain") == 0
            assert len(metrics.restarts) == 3

    asyncio.run(asyncio.wait_for(scenario(), 4 * _WAIT_SECONDS))


def test_a_workload_deleted_in_its_window_is_not_restarted(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace

    async def scenario() -> None:
        metrics = RecordedMetrics()
        async with _running(kube_apiserver, ns, metrics) as (client, rollouts):
            body = _workload("Deployment", "env", ns, _pod_spec({"env": [_PW]}), opted_in=True)
            await _create(client, Deployment, body)
            await eventually(lambda: len(rollouts.index) == 1, what="the Deployment indexed")
            rollouts.changed(ns, "db", frozenset({"pw"}), datetime.now(UTC))
            assert len(rollouts.debouncer) == 1
            await client.delete(Deployment, "env", namespace=ns)
            await eventually(lambda: len(rollouts.index) == 0, what="the deletion seen")
            assert len(rollouts.debouncer) == 0
            await asyncio.sleep(WINDOW + 0.5)  # proves no patch (and no error) follows
            assert metrics.restarts == []

    asyncio.run(asyncio.wait_for(scenario(), 2 * _WAIT_SECONDS))


async def _pod(
    client: AsyncClient, namespace: str, name: str, container: dict[str, Any], started: datetime
) -> None:
    volumes = [{"name": "db", "secret": {"secretName": "db"}}]
    body = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": _pod_spec(container, volumes),
    }
    await _create(client, Pod, body)
    status = {"status": {"phase": "Running", "startTime": started.strftime("%Y-%m-%dT%H:%M:%SZ")}}
    await client.patch(Pod.Status, name, status, namespace=namespace, patch_type=PatchType.MERGE)


def test_pods_that_read_a_changed_key_at_start_before_it_changed_are_stale(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace
    at = datetime.now(UTC).replace(microsecond=0)
    before, after = at - timedelta(minutes=5), at + timedelta(minutes=5)
    mount = {"volumeMounts": [{"name": "db", "mountPath": "/etc/db"}]}

    async def scenario() -> None:
        metrics = RecordedMetrics()
        async with _running(kube_apiserver, ns, metrics) as (client, rollouts):
            await _pod(client, ns, "old-env", {"env": [_PW]}, before)
            await _pod(client, ns, "new-env", {"env": [_PW]}, after)
            await _pod(client, ns, "old-volume", mount, before)
            key = (ns, "db")
            # A change of a key no pod reads: nobody is stale.
            rollouts.changed(ns, "db", frozenset({"other"}), at)
            assert metrics.stale[key] == 0
            rollouts.changed(ns, "db", frozenset({"pw"}), at)
            await eventually(lambda: metrics.stale.get(key) == 1, what="one stale pod")
            assert [str(p) for p in rollouts.stale(ns, "db")] == [f"Pod/{ns}/old-env"]

            await client.delete(Pod, "old-env", namespace=ns, grace_period=0)
            await eventually(lambda: metrics.stale.get(key) == 0, what="the stale pod gone")

            rollouts.forget(ns, "db")
            assert metrics.forgotten == [key]
            assert key not in metrics.stale
            await _pod(client, ns, "old-again", {"env": [_PW]}, before)
            await eventually(
                lambda: any(p.endswith("/old-again") for p in rollouts.informers[-1].cached_keys()),
                what="the new pod cached",
            )
            assert key not in metrics.stale  # a forgotten Secret reports no more

    asyncio.run(asyncio.wait_for(scenario(), 2 * _WAIT_SECONDS))


def test_a_failed_restart_is_retried_once_a_window_later(
    kube_apiserver: KubeApiserver, kube_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Run as a user who may watch but not patch: the restart fails, is tried once more a window
    later, then given up; once the user may patch, the next change rolls the workload."""
    ns = kube_namespace
    resources = "deployments.apps,statefulsets.apps,daemonsets.apps,pods"
    kube_apiserver.kubectl(
        "create", "role", "watch", "--verb=get,list,watch", f"--resource={resources}", "-n", ns
    )
    kube_apiserver.kubectl(
        "create", "rolebinding", "watch", "--role=watch", "--user=alice", "-n", ns
    )
    caplog.set_level(logging.INFO, logger="sealbox.controllers.sync.rollouts")

    def logged(text: str) -> int:
        return sum(text in record.getMessage() for record in caplog.records)

    async def scenario() -> None:
        metrics = RecordedMetrics()
        admin = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        alice = KubeTarget(kubeconfig=kube_apiserver.kubeconfig_for("alice"))
        try:
            body = _workload("Deployment", "env", ns, _pod_spec({"env": [_PW]}), opted_in=True)
            await _create(admin, Deployment, body)
            async with _running(kube_apiserver, ns, metrics, target=alice) as (_, rollouts):
                await eventually(lambda: len(rollouts.index) == 1, what="the Deployment indexed")
                rollouts.changed(ns, "db", frozenset({"pw"}), datetime.now(UTC))
                await eventually(lambda: logged("given up") == 1, what="the retry to fail too")
                assert logged("retrying in one window") == 1
                await asyncio.sleep(WINDOW + 0.5)  # proves no third attempt follows
                assert logged("retrying in one window") == logged("given up") == 1
                assert metrics.restarts == []

                kube_apiserver.kubectl(
                    "create", "role", "patch", "--verb=patch", "--resource=deployments.apps",
                    "-n", ns,
                )  # fmt: skip
                kube_apiserver.kubectl(
                    "create", "rolebinding", "patch", "--role=patch", "--user=alice", "-n", ns
                )
                rollouts.changed(ns, "db", frozenset({"pw"}), datetime.now(UTC))
                await eventually(lambda: metrics.restarts == [(ns, "Deployment")], what="restart")
            live = await admin.get(Deployment, "env", namespace=ns)
            assert live.metadata is not None
            assert live.metadata.generation == 2
        finally:
            await admin.close()

    asyncio.run(asyncio.wait_for(scenario(), 2 * _WAIT_SECONDS))
