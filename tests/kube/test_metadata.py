"""Metadata-only lists and watches: every Secret enumerated, page by page, its changes followed,
and no value ever on the wire."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from pathlib import Path

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.operators import not_equal
from lightkube.resources.core_v1 import Namespace, Secret

from sealbox.errors import KubeGone
from sealbox.kube import (
    KubeTarget,
    MetadataEvent,
    ObjectMetadata,
    async_client,
    list_metadata,
    list_metadata_async,
    metadata_pages,
    metadata_pages_async,
    sync_client,
    watch_metadata_async,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.kube.fault_proxy import Fault, running_fault_proxy
from tests.kube.support import config_via

COUNT = 12


@pytest.fixture
def seeded(kube_apiserver: KubeApiserver, kube_namespace: str) -> tuple[str, str]:
    """COUNT Secrets in a fresh namespace, each holding one known value; (namespace, value)."""
    value = f"never-on-the-wire-{secrets.token_hex(8)}"
    items = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"s-{index:02d}",
                "namespace": kube_namespace,
                "labels": {"index": str(index)},
                "annotations": {"note": "kept"},
            },
            "stringData": {"password": value},
        }
        for index in range(COUNT)
    ]
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    kube_apiserver.kubectl("create", "-f", "-", stdin=document)
    return kube_namespace, value


def test_pages_cover_every_object_with_its_metadata(
    kube_apiserver: KubeApiserver, seeded: tuple[str, str]
) -> None:
    namespace, _ = seeded
    with sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client:
        pages = list(metadata_pages(client, Secret, namespace=namespace, limit=5))
        stored = client.get(Secret, "s-07", namespace=namespace)
    assert [len(page.items) for page in pages] == [5, 5, 2]
    assert [bool(page.continue_token) for page in pages] == [True, True, False]
    assert pages[-1].resource_version
    items = [item for page in pages for item in page.items]
    assert [item.name for item in items] == [f"s-{i:02d}" for i in range(COUNT)]
    seventh = items[7]
    assert stored.metadata is not None
    assert seventh == ObjectMetadata(
        name="s-07",
        namespace=namespace,
        uid=stored.metadata.uid or "",
        resource_version=stored.metadata.resourceVersion or "",
        labels={"index": "7"},
        annotations={"note": "kept"},
    )


def test_no_secret_value_crosses_the_wire(
    kube_apiserver: KubeApiserver, seeded: tuple[str, str], tmp_path: Path
) -> None:
    namespace, value = seeded
    encoded = base64.b64encode(value.encode())
    with (
        running_fault_proxy(kube_apiserver.url, kube_apiserver.ca_file) as proxy,
        sync_client(config_via(kube_apiserver, proxy.url, tmp_path)) as client,
    ):
        names = [m.name for m in list_metadata(client, Secret, namespace=namespace, limit=5)]
        listed = proxy.seen()
        client.get(Secret, "s-00", namespace=namespace)  # the control: a read does carry it
        read = proxy.seen()[len(listed) :]
    assert len(names) == COUNT
    assert len(listed) == 3
    assert all(e.status == 200 for e in listed)
    wire = b"".join(e.body for e in listed)
    assert b'"kind":"PartialObjectMetadataList"' in wire
    assert encoded not in wire
    assert value.encode() not in wire
    assert b'"data"' not in wire
    assert encoded in b"".join(e.body for e in read)


def test_all_namespaces_and_a_label_selector(
    kube_apiserver: KubeApiserver, seeded: tuple[str, str]
) -> None:
    namespace, _ = seeded
    with sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client:
        everywhere = {(m.namespace, m.name) for m in list_metadata(client, Secret, limit=7)}
        chosen = list_metadata(client, Secret, namespace=namespace, labels={"index": ["3", "4"]})
        picked = [m.name for m in chosen]
        namespaces = {m.name for m in list_metadata(client, Namespace)}
    assert {(namespace, f"s-{i:02d}") for i in range(COUNT)} <= everywhere
    assert picked == ["s-03", "s-04"]
    assert namespace in namespaces


def test_an_expired_continue_token_is_gone(
    kube_apiserver: KubeApiserver, seeded: tuple[str, str], tmp_path: Path
) -> None:
    namespace, _ = seeded
    with (
        running_fault_proxy(kube_apiserver.url, kube_apiserver.ca_file) as proxy,
        sync_client(config_via(kube_apiserver, proxy.url, tmp_path)) as client,
    ):
        pages = metadata_pages(client, Secret, namespace=namespace, limit=5)
        next(pages)
        proxy.inject(Fault(410))  # what the apiserver says once the token's revision is gone
        with pytest.raises(KubeGone, match="list again") as caught:
            next(pages)
    assert (caught.value.status, caught.value.reason) == (410, "Expired")
    assert "continue=" in proxy.seen()[-1].path


def test_async_list(kube_apiserver: KubeApiserver, seeded: tuple[str, str]) -> None:
    namespace, _ = seeded

    async def names() -> list[str]:
        async with async_client(KubeTarget(kube_apiserver.kubeconfig)) as client:
            return [
                m.name
                async for m in list_metadata_async(client, Secret, namespace=namespace, limit=4)
            ]

    assert asyncio.run(names()) == [f"s-{i:02d}" for i in range(COUNT)]


def test_a_cluster_scoped_resource_takes_no_namespace(kube_apiserver: KubeApiserver) -> None:
    with (
        sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client,
        pytest.raises(ValueError, match="Namespace is not namespaced"),
    ):
        list(list_metadata(client, Namespace, namespace="default"))


async def _version(client: AsyncClient, namespace: str) -> str:
    """The resourceVersion a list of ``namespace``'s Secrets was taken at."""
    version = ""
    async for page in metadata_pages_async(client, Secret, namespace=namespace):
        version = page.resource_version
    return version


def test_a_watch_sends_changes_after_its_version_by_metadata_alone(
    kube_apiserver: KubeApiserver, seeded: tuple[str, str], tmp_path: Path
) -> None:
    """Only what changed after the list's version, only what the selectors match, as
    ``PartialObjectMetadata``: the raw events the apiserver sent carry no ``data`` at all."""
    namespace, value = seeded
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-1", "controller": True}
    reference = OwnerReference(
        apiVersion="v1", kind="ConfigMap", name="o", uid="u-1", controller=True
    )

    def labelled(name: str, team: str) -> Secret:
        return Secret(
            metadata=ObjectMeta(
                name=name, namespace=namespace, labels={"team": team}, ownerReferences=[reference]
            ),
            stringData={"password": value},
        )

    async def scenario() -> tuple[list[MetadataEvent], list[bytes]]:
        direct = async_client(KubeTarget(kube_apiserver.kubeconfig))
        with running_fault_proxy(kube_apiserver.url, kube_apiserver.ca_file) as proxy:
            # The proxy buffers whole answers: timeout_seconds=1 makes the server end the watch.
            watching = async_client(config_via(kube_apiserver, proxy.url, tmp_path))
            try:
                since = await _version(direct, namespace)
                await direct.create(labelled("w-1", "a"))
                await direct.create(labelled("w-2", "b"))  # outside the label selector
                await direct.create(labelled("skipped", "a"))  # outside the field selector
                await direct.patch(
                    Secret, "w-1", {"metadata": {"annotations": {"n": "1"}}}, namespace=namespace
                )
                await direct.delete(Secret, "w-1", namespace=namespace)
                stream = watch_metadata_async(
                    watching,
                    Secret,
                    namespace=namespace,
                    resource_version=since,
                    timeout_seconds=1,
                    labels={"team": "a"},
                    fields={"metadata.name": not_equal("skipped")},
                )
                events = [await anext(stream) for _ in range(3)]
                return events, [e.body for e in proxy.seen("GET") if "watch=1" in e.path]
            finally:
                await watching.close()
                await direct.close()

    events, bodies = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert [(e.type, e.metadata.name) for e in events] == [
        ("ADDED", "w-1"),
        ("MODIFIED", "w-1"),
        ("DELETED", "w-1"),
    ]
    assert events[1].metadata.annotations == {"n": "1"}
    assert events[2].metadata.labels == {"team": "a"}
    assert [dict(ref) for ref in events[2].metadata.owner_references] == [owner]
    assert len({e.metadata.resource_version for e in events}) == 3
    assert bodies, "the watch went through the proxy"
    raw = [json.loads(line) for body in bodies for line in body.splitlines() if line.strip()]
    assert [event["type"] for event in raw[:3]] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(event["object"]["kind"] == "PartialObjectMetadata" for event in raw[:3])
    assert all("data" not in event["object"] for event in raw)
    wire = b"".join(bodies)
    assert b'"data"' not in wire
    assert value.encode() not in wire
    assert base64.b64encode(value.encode()) not in wire


def test_a_watch_refused_with_410_is_gone(
    kube_apiserver: KubeApiserver, seeded: tuple[str, str], tmp_path: Path
) -> None:
    namespace, _ = seeded

    async def scenario() -> None:
        with running_fault_proxy(kube_apiserver.url, kube_apiserver.ca_file) as proxy:
            client = async_client(config_via(kube_apiserver, proxy.url, tmp_path))
            try:
                since = await _version(client, namespace)
                proxy.inject(Fault(410, method="GET"))
                stream = watch_metadata_async(
                    client, Secret, namespace=namespace, resource_version=since
                )
                with pytest.raises(KubeGone, match="list again") as caught:
                    await anext(stream)
                assert caught.value.status == 410
                assert "watch=1" in proxy.seen()[-1].path
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
