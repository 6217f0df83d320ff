"""Server-side apply as field manager ``sealbox``: create, update, and a conflict that only an
explicit force overrides."""

from __future__ import annotations

import asyncio

import pytest
from lightkube.resources.core_v1 import Secret

from sealbox.errors import KubeConflict
from sealbox.kube import FIELD_MANAGER, KubeTarget, apply, apply_async, async_client, sync_client
from tests.integration.kube_apiserver import KubeApiserver
from tests.kube.support import secret


def _managers(obj: Secret) -> set[str]:
    assert obj.metadata is not None
    return {entry.manager for entry in obj.metadata.managedFields or [] if entry.manager}


def test_apply_creates_then_updates_as_sealbox(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    with sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client:
        created = apply(client, secret("ssa", kube_namespace, "one", app="a"), force=False)
        updated = apply(client, secret("ssa", kube_namespace, "two", app="b"), force=False)
        stored = client.get(Secret, "ssa", namespace=kube_namespace)
    assert created.metadata
    assert updated.metadata
    assert stored.metadata
    assert created.metadata.uid == updated.metadata.uid
    assert stored.metadata.labels == {"app": "b"}
    assert stored.data == {"value": "dHdv"}  # base64 of "two"
    assert _managers(stored) == {FIELD_MANAGER}


def test_a_field_owned_by_another_manager_conflicts_unless_forced(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    with sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client:
        client.apply(secret("owned", kube_namespace, app="theirs"), field_manager="someone-else")
        with pytest.raises(KubeConflict) as caught:
            apply(client, secret("owned", kube_namespace, app="ours"), force=False)
        forced = apply(client, secret("owned", kube_namespace, app="ours"), force=True)
    assert caught.value.status == 409
    assert "someone-else" in str(caught.value)
    assert "apply with force to take them over" in str(caught.value)
    assert forced.metadata
    assert forced.metadata.labels == {"app": "ours"}


def test_async_apply(kube_apiserver: KubeApiserver, kube_namespace: str) -> None:
    async def run() -> Secret:
        async with async_client(KubeTarget(kube_apiserver.kubeconfig)) as client:
            return await apply_async(client, secret("a", kube_namespace, "x"), force=False)

    applied = asyncio.run(run())
    assert applied.metadata
    assert applied.metadata.namespace == kube_namespace
    assert _managers(applied) == {FIELD_MANAGER}
