"""The owned-Secret deletion watch against the real apiserver: which deletions it announces,
``on_deleted`` before each announcement, a deletion missed while it was down announced by the
relist, and nothing of any Secret kept."""

from __future__ import annotations

import asyncio

import pytest
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing import OwnedSecretDeletions
from sealbox.kube import KubeTarget, async_client
from tests.integration.kube_apiserver import KubeApiserver
from tests.kube.runtime.replicas import eventually

pytestmark = pytest.mark.integration
_MANAGED = {"sealedsecrets.bitnami.com/managed": "true"}


def _secret(
    name: str,
    namespace: str,
    *,
    owner: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Secret:
    refs = None
    if owner is not None:
        refs = [
            OwnerReference(
                apiVersion="bitnami.com/v1alpha1",
                kind="SealedSecret",
                name=owner,
                uid="0b0e7f0c-0000-4000-8000-000000000001",
                controller=True,
            )
        ]
    meta = ObjectMeta(name=name, namespace=namespace, ownerReferences=refs, annotations=annotations)
    return Secret(metadata=meta, stringData={"value": "never-kept"})


def test_only_owned_deletions_are_announced_and_a_missed_one_by_the_relist(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace

    async def scenario() -> list[tuple[str, str]]:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        journal: list[tuple[str, str]] = []
        owned = OwnedSecretDeletions(
            client, namespace=ns, on_deleted=lambda key: journal.append(("forget", key))
        )
        owned.subscribe(lambda key: journal.append(("announce", key)))
        for secret in (
            _secret("by-owner", ns, owner="by-owner"),
            _secret("managed", ns, annotations=_MANAGED),
            _secret("released", ns, annotations=_MANAGED),
            _secret("missed", ns, annotations=_MANAGED),
            _secret("other-owner", ns, owner="someone-else"),
            _secret("plain", ns),
        ):
            await client.create(secret)
        task = asyncio.create_task(owned.run())
        try:
            await asyncio.wait_for(owned.synced.wait(), 30)
            assert owned.owned == {
                f"{ns}/{n}" for n in ("by-owner", "managed", "released", "missed")
            }
            assert (owned.cached_keys(), owned.get(f"{ns}/managed")) == ([], None)
            await client.patch(Secret, "plain", {"metadata": {"labels": {"x": "y"}}}, namespace=ns)
            await client.patch(
                Secret,
                "released",
                {"metadata": {"annotations": {"sealedsecrets.bitnami.com/managed": None}}},
                namespace=ns,
            )
            for name in ("plain", "other-owner", "released", "by-owner", "managed"):
                await client.delete(Secret, name, namespace=ns)
            await eventually(lambda: len(journal) >= 4, what="two deletions announced")
            # The watch is ordered: the unowned deletions before came and went unannounced.
            assert journal == [
                ("forget", f"{ns}/by-owner"),
                ("announce", f"{ns}/by-owner"),
                ("forget", f"{ns}/managed"),
                ("announce", f"{ns}/managed"),
            ]
            assert owned.owned == {f"{ns}/missed"}

            task.cancel()  # the watch is down...
            await asyncio.gather(task, return_exceptions=True)
            await client.delete(Secret, "missed", namespace=ns)  # ...when this goes
            task = asyncio.create_task(owned.run())
            await eventually(lambda: len(journal) >= 6, what="the relist to find the deletion")
            assert owned.relists == 2
            return journal[4:]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    after_relist = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert after_relist == [("forget", f"{ns}/missed"), ("announce", f"{ns}/missed")]
