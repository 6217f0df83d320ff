"""One leadership term in process: failures retry per key, requeue works, stepping down lets
in-flight work finish."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from lightkube.resources.core_v1 import ConfigMap, Secret

from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import (
    Backoff,
    Controller,
    ControllerMetrics,
    ControllerOptions,
    HealthServer,
    Informer,
    Watch,
)
from tests.integration.kube_apiserver import KubeApiserver

pytestmark = pytest.mark.integration
_WAIT_SECONDS = 30.0


def test_a_failing_key_is_retried_alone_and_stepping_down_finishes_in_flight_work(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    for name in ("flaky", "steady", "slow"):
        kube_apiserver.kubectl("create", "configmap", name, "-n", kube_namespace)
    flaky, steady, slow = (f"{kube_namespace}/{n}" for n in ("flaky", "steady", "slow"))

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        calls: Counter[str] = Counter()
        finished: list[str] = []
        slow_started, all_seen = asyncio.Event(), asyncio.Event()

        async def reconcile(key: str) -> float | None:
            calls[key] += 1
            if key == flaky and calls[key] <= 2:
                raise RuntimeError("transient")
            if key == steady and calls[key] == 1:
                return 0.01  # look again shortly
            if key == slow:
                slow_started.set()
                await asyncio.sleep(0.2)
            finished.append(key)
            if {flaky, steady, slow} <= set(finished):
                all_seen.set()
            return None

        metrics = ControllerMetrics()
        controller = Controller(
            ControllerOptions(
                "term", workers=3, backoff=Backoff(base_seconds=0.01, max_seconds=0.05)
            ),
            reconcile,
            informers=[Informer(client, ConfigMap, namespace=kube_namespace)],
            metrics=metrics,
        )
        stepping_down = asyncio.Event()
        term = asyncio.create_task(controller.lead(stepping_down))
        try:
            await asyncio.wait_for(all_seen.wait(), _WAIT_SECONDS)
            assert calls[flaky] == 3
            assert calls[steady] == 2
            assert controller.queue is not None
            assert controller.queue.failures(flaky) == 0  # forgotten after the success

            # Stepping down while a reconcile runs: it finishes, nothing new starts.
            slow_started.clear()
            controller.queue.add(slow)
            await asyncio.wait_for(slow_started.wait(), _WAIT_SECONDS)
            stepping_down.set()
            queue = controller.queue
            while not queue.shutting_down:
                await asyncio.sleep(0)
            queue.add(steady)
            await asyncio.wait_for(term, _WAIT_SECONDS)
            assert finished[-1] == slow
            assert calls[steady] == 2
        finally:
            term.cancel()
            await asyncio.gather(term, return_exceptions=True)
            await client.close()
        text = metrics.render().decode()
        assert 'sealbox_controller_reconcile_errors_total{controller="term"} 2.0' in text
        assert 'sealbox_controller_reconcile_total{controller="term",result="requeue"} 1.0' in text

    asyncio.run(scenario())


def test_the_health_port_answers_probes_and_refuses_the_rest() -> None:
    reasons: list[str | None] = [None, "caches not synced"]
    server = HealthServer("127.0.0.1", 0, ready=lambda: reasons[0], metrics=lambda: b"m 1\n")
    assert server.answer("GET", "/readyz")[::2] == (200, b"ok\n")
    reasons.pop(0)
    assert server.answer("GET", "/readyz?verbose")[::2] == (503, b"not ready: caches not synced\n")
    assert server.answer("GET", "/healthz")[::2] == (200, b"ok\n")
    assert server.answer("GET", "/metrics") == (200, "text/plain; version=0.0.4", b"m 1\n")
    assert server.answer("POST", "/healthz")[0] == 405
    assert server.answer("GET", "/secrets")[0] == 404


def test_resync_brings_every_cached_key_back_without_any_change(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    for name in ("a", "b"):
        kube_apiserver.kubectl("create", "configmap", name, "-n", kube_namespace)

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        calls: Counter[str] = Counter()
        again = asyncio.Event()

        async def reconcile(key: str) -> float | None:
            calls[key] += 1
            if min(calls.values()) >= 3 and len(calls) == 2:
                again.set()
            return None

        controller = Controller(
            ControllerOptions("resync", resync_seconds=0.05),
            reconcile,
            informers=[Informer(client, ConfigMap, namespace=kube_namespace)],
            metrics=ControllerMetrics(),
        )
        stepping_down = asyncio.Event()
        term = asyncio.create_task(controller.lead(stepping_down))
        try:
            await asyncio.wait_for(again.wait(), _WAIT_SECONDS)
        finally:
            stepping_down.set()
            await asyncio.wait_for(term, _WAIT_SECONDS)
            await client.close()
        assert set(calls) == {f"{kube_namespace}/a", f"{kube_namespace}/b"}

    asyncio.run(scenario())


def test_a_watch_maps_its_objects_changes_to_primary_keys_and_syncs_before_workers(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    kube_apiserver.kubectl("create", "configmap", "primary", "-n", kube_namespace)
    primary = f"{kube_namespace}/primary"

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        seen: list[str] = []
        mapped = asyncio.Event()
        secondary = Informer(client, Secret, namespace=kube_namespace)

        async def reconcile(key: str) -> float | None:
            assert secondary.synced.is_set()  # workers start once every cache is synced
            seen.append(key)
            if seen.count(primary) >= 2:
                mapped.set()
            return None

        controller = Controller(
            ControllerOptions("watches", workers=1, resync_seconds=3600),
            reconcile,
            informers=[Informer(client, ConfigMap, namespace=kube_namespace)],
            metrics=ControllerMetrics(),
            watches=[Watch(secondary, lambda key: [primary] if key.endswith("/owned") else [])],
        )
        stepping_down = asyncio.Event()
        term = asyncio.create_task(controller.lead(stepping_down))
        try:
            while primary not in seen:
                await asyncio.sleep(0.05)
            kube_apiserver.kubectl("create", "secret", "generic", "other", "-n", kube_namespace)
            kube_apiserver.kubectl("create", "secret", "generic", "owned", "-n", kube_namespace)
            await asyncio.wait_for(mapped.wait(), _WAIT_SECONDS)
            # Secret keys never reach the reconciler themselves, only what they map to.
            assert set(seen) == {primary}
        finally:
            stepping_down.set()
            await asyncio.wait_for(term, _WAIT_SECONDS)
            await client.close()

    asyncio.run(scenario())
