"""In-process: a leader that cannot renew stops acting before its lease could be taken; the
health port and metrics follow; conditions reach an object's status through the subresource."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lightkube.resources.core_v1 import ConfigMap

from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import (
    Controller,
    ControllerMetrics,
    ControllerOptions,
    Informer,
    LeaderElector,
    LeaseConfig,
    run_controller,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import free_port
from tests.kube.runtime.replicas import runtime_identity

pytestmark = pytest.mark.integration
_WAIT_SECONDS = 30.0


def _http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def test_a_leader_that_cannot_renew_stops_acting_before_its_lease_expires(
    kube_apiserver: KubeApiserver, kube_namespace: str, tmp_path: Path
) -> None:
    """Revoking the Lease permission makes every renewal fail (403): the in-flight reconcile
    is cancelled and the replica steps down within its renew deadline, so before anyone else
    could take the lease; meanwhile /readyz, /healthz and the leader metric tell the truth."""
    kube_apiserver.kubectl("create", "configmap", "one", "-n", kube_namespace)
    kubeconfig = runtime_identity(kube_apiserver, kube_namespace, tmp_path)
    config = LeaseConfig(
        "loses",
        kube_namespace,
        "in-process",
        lease_duration_seconds=4.0,
        renew_deadline_seconds=2.0,
        retry_period_seconds=0.25,
    )

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kubeconfig))
        informer = Informer(client, ConfigMap, namespace=kube_namespace)
        started, cancelled = asyncio.Event(), asyncio.Event()
        renewals: list[float] = []  # wall-clock send times of successful renewals

        async def reconcile(key: str) -> float | None:
            started.set()
            try:
                await asyncio.Event().wait()  # acts until told to stop
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return None

        metrics = ControllerMetrics()
        controller = Controller(
            ControllerOptions("loses", workers=1), reconcile, informers=[informer], metrics=metrics
        )
        elector = LeaderElector(client, config, on_renew=renewals.append)
        stop = asyncio.Event()
        port = free_port()
        runner = asyncio.create_task(
            run_controller(
                controller,
                elector,
                metrics=metrics,
                health_port=port,
                health_host="127.0.0.1",
                stop=stop,
            )
        )
        try:
            await asyncio.wait_for(started.wait(), _WAIT_SECONDS)
            assert await asyncio.to_thread(_http_get, port, "/readyz") == (200, "ok\n")
            _, text = await asyncio.to_thread(_http_get, port, "/metrics")
            assert 'sealbox_controller_leader{controller="loses"} 1.0' in text
            assert 'sealbox_controller_queue_depth{controller="loses"}' in text

            kube_apiserver.kubectl(
                "delete", "rolebinding", "sealbox-controller-leader-election", "-n", kube_namespace
            )
            await asyncio.wait_for(cancelled.wait(), _WAIT_SECONDS)
            stepped_down = time.time()
            assert not elector.is_leader
            last = max(renewals)
            # The renewal that last succeeded was sent before `last`; nobody may take the lease
            # before that moment plus the lease duration. The leader was gone well before.
            assert stepped_down < last + config.lease_duration_seconds
            _, text = await asyncio.to_thread(_http_get, port, "/metrics")
            assert 'sealbox_controller_leader{controller="loses"} 0.0' in text
            assert (await asyncio.to_thread(_http_get, port, "/healthz"))[0] == 200
        finally:
            stop.set()
            await asyncio.wait_for(runner, _WAIT_SECONDS)
            await client.close()

    asyncio.run(scenario())
