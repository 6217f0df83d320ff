"""Conditions reach a real object's status through the status subresource."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from lightkube.resources.apps_v1 import Deployment

from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import Condition, patch_status, set_condition
from tests.integration.kube_apiserver import KubeApiserver

pytestmark = pytest.mark.integration
T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def test_patch_status_writes_conditions_and_leaves_the_spec_alone(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    # No controller-manager runs here, so a Deployment's status is ours to write.
    kube_apiserver.kubectl(
        "create", "deployment", "web", "--image=registry.invalid/web:1", "-n", kube_namespace
    )

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        try:
            before = await client.get(Deployment, "web", namespace=kube_namespace)
            assert before.metadata is not None
            generation = int(before.metadata.generation or 0)
            ready = Condition("Ready", "False", "Waiting", "no replicas yet")
            conditions = set_condition([], ready, observed_generation=generation, now=T0)
            await patch_status(
                client, Deployment, "web", {"conditions": conditions}, namespace=kube_namespace
            )
            after = await client.get(Deployment, "web", namespace=kube_namespace)
            assert after.status is not None
            (written,) = after.status.conditions or []
            assert (written.type, written.status, written.reason) == ("Ready", "False", "Waiting")
            assert written.lastTransitionTime == T0
            assert after.metadata is not None
            assert after.metadata.generation == generation  # status writes are not spec changes
        finally:
            await client.close()

    asyncio.run(scenario())
