"""Watch and informer against the real apiserver: resume, 410 Gone, relist."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.operators import not_equal
from lightkube.resources.core_v1 import ConfigMap, Namespace

from sealbox.errors import KubeGone
from sealbox.kube import KubeTarget, ObjectMetadata, async_client
from sealbox.kube.runtime import Informer, list_objects, watch_from
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.kube.runtime.replicas import eventually

pytestmark = pytest.mark.integration
_WAIT_SECONDS = 30.0


def _client(apiserver: KubeApiserver) -> AsyncClient:
    return async_client(KubeTarget(kubeconfig=apiserver.kubeconfig))


def _configmap(name: str, namespace: str, labels: dict[str, str] | None = None) -> ConfigMap:
    return ConfigMap(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels), data={"k": "v"}
    )


def test_a_watch_starts_where_its_list_ended(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            await client.create(_configmap("before", kube_namespace))
            listed = await list_objects(client, ConfigMap, namespace=kube_namespace)
            assert [o.metadata.name for o in listed.objects] == ["before"]
            await client.create(_configmap("after", kube_namespace))
            stream = watch_from(
                client,
                ConfigMap,
                namespace=kube_namespace,
                resource_version=listed.resource_version,
            )
            first = await asyncio.wait_for(anext(aiter(stream)), _WAIT_SECONDS)
            assert (first.type, first.obj.metadata.name) == ("ADDED", "after")
        finally:
            await client.close()

    asyncio.run(scenario())


def test_no_namespace_means_every_namespace_not_the_kubeconfig_default(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    """lightkube reads namespace=None as the kubeconfig's namespace; the runtime means all."""

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            await client.create(_configmap("everywhere-1", kube_namespace))
            listed = await list_objects(client, ConfigMap, namespace=None)
            assert f"{kube_namespace}/everywhere-1" in {
                f"{o.metadata.namespace}/{o.metadata.name}" for o in listed.objects
            }
            stream = watch_from(
                client, ConfigMap, namespace=None, resource_version=listed.resource_version
            )
            await client.create(_configmap("everywhere-2", kube_namespace))
            async for event in stream:
                if event.obj.metadata.name == "everywhere-2":
                    assert event.obj.metadata.namespace == kube_namespace
                    break
        finally:
            await client.close()

    asyncio.run(asyncio.wait_for(scenario(), _WAIT_SECONDS))


def test_selectors_go_to_the_apiserver_and_leaving_the_selection_is_a_deletion(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    """Objects outside the selectors are neither listed nor watched; one relabelled out of a
    label selector arrives as DELETED (the apiserver's doing: the watch is filtered there)."""

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            await client.create(_configmap("in-1", kube_namespace, {"team": "a"}))
            await client.create(_configmap("out-1", kube_namespace, {"team": "b"}))
            await client.create(_configmap("bare-1", kube_namespace))
            listed = await list_objects(
                client, ConfigMap, namespace=kube_namespace, labels={"team": "a"}
            )
            assert [o.metadata.name for o in listed.objects] == ["in-1"]
            excluded = await list_objects(
                client, ConfigMap, namespace=kube_namespace, labels={"team": not_equal("a")}
            )
            assert sorted(o.metadata.name for o in excluded.objects) == ["bare-1", "out-1"]
            neither = await list_objects(  # pairs: two requirements on one key
                client,
                ConfigMap,
                namespace=kube_namespace,
                labels=[("team", not_equal("a")), ("team", not_equal("b"))],
            )
            assert [o.metadata.name for o in neither.objects] == ["bare-1"]
            by_name = await list_objects(
                client, ConfigMap, namespace=kube_namespace, fields={"metadata.name": "out-1"}
            )
            assert [o.metadata.name for o in by_name.objects] == ["out-1"]

            stream = aiter(
                watch_from(
                    client,
                    ConfigMap,
                    namespace=kube_namespace,
                    resource_version=listed.resource_version,
                    labels={"team": "a"},
                )
            )
            # Changes outside the selection come first; the watch must skip all of them.
            await client.create(_configmap("out-2", kube_namespace, {"team": "b"}))
            await client.patch(
                ConfigMap, "out-1", {"data": {"k": "changed"}}, namespace=kube_namespace
            )
            await client.create(_configmap("in-2", kube_namespace, {"team": "a"}))
            await client.patch(
                ConfigMap, "in-1", {"metadata": {"labels": {"team": "b"}}}, namespace=kube_namespace
            )
            await client.patch(
                ConfigMap,
                "out-2",
                {"metadata": {"labels": {"team": "a"}}},
                namespace=kube_namespace,
            )
            seen = [await anext(stream) for _ in range(3)]
            assert [(e.type, e.obj.metadata.name) for e in seen] == [
                ("ADDED", "in-2"),
                ("DELETED", "in-1"),  # relabelled out: gone, as far as this watch knows
                ("ADDED", "out-2"),  # relabelled in: new to this watch
            ]

            fields = aiter(
                watch_from(
                    client,
                    ConfigMap,
                    namespace=kube_namespace,
                    resource_version=listed.resource_version,
                    fields={"metadata.name": "bare-1"},
                )
            )
            await client.delete(ConfigMap, "bare-1", namespace=kube_namespace)
            only = await anext(fields)
            assert (only.type, only.obj.metadata.name) == ("DELETED", "bare-1")
        finally:
            await client.close()

    asyncio.run(asyncio.wait_for(scenario(), _WAIT_SECONDS))


def test_an_informer_with_a_selector_never_caches_what_it_excludes(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    async def scenario() -> None:
        client = _client(kube_apiserver)
        informer = Informer(client, ConfigMap, namespace=kube_namespace, labels={"team": "a"})
        keys: list[str] = []
        informer.subscribe(keys.append)
        task = asyncio.create_task(informer.run())
        try:
            await client.create(_configmap("kept", kube_namespace, {"team": "a"}))
            await client.create(_configmap("other", kube_namespace, {"team": "b"}))
            await informer.synced.wait()
            await client.create(_configmap("late", kube_namespace, {"team": "a"}))
            key = f"{kube_namespace}/"
            await eventually(
                lambda: informer.cached_keys() == [key + "kept", key + "late"],
                what="both selected objects in the cache",
            )
            await client.patch(
                ConfigMap, "kept", {"metadata": {"labels": {"team": "b"}}}, namespace=kube_namespace
            )
            await eventually(
                lambda: informer.cached_keys() == [key + "late"],
                what="the relabelled object to leave the cache",
            )
            assert key + "other" not in keys
            assert informer.get(key + "other") is None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    asyncio.run(asyncio.wait_for(scenario(), _WAIT_SECONDS))


@pytest.fixture
def uncached_apiserver(etcd_server: EtcdServer, tmp_path: Path) -> Iterator[KubeApiserver]:
    """An apiserver whose watches go straight to etcd, so compacting etcd makes versions go."""
    with running_apiserver(tmp_path / "apiserver", etcd_server, flags=["--watch-cache=false"]) as s:
        yield s


def _compact(etcd: EtcdServer) -> int:
    status = json.loads(etcd.etcdctl("endpoint", "status", "-w", "json").stdout)
    revision = int(status[0]["Status"]["header"]["revision"])
    etcd.etcdctl("compact", str(revision))
    return revision


def test_a_compacted_version_is_gone_and_the_informer_lists_again(
    uncached_apiserver: KubeApiserver, etcd_server: EtcdServer
) -> None:
    """Whole objects and metadata alone alike: a compacted version is KubeGone, and both
    informers relist, announce what went meanwhile and follow the watch again."""

    async def scenario() -> None:
        client = _client(uncached_apiserver)
        for name in ("watched", "noise"):
            await client.create(Namespace(metadata=ObjectMeta(name=name)))
        await client.create(_configmap("stays", "watched"))
        await client.create(_configmap("goes", "watched"))
        # timeoutSeconds=1: the server ends each watch after a second and the client
        # reconnects from the last version it saw, the moment a compaction bites.
        informer = Informer(client, ConfigMap, namespace="watched", watch_timeout_seconds=1)
        metadata = Informer(
            client, ConfigMap, namespace="watched", watch_timeout_seconds=1, metadata_only=True
        )
        keys: list[str] = []
        metadata_keys: list[str] = []
        informer.subscribe(keys.append)
        metadata.subscribe(metadata_keys.append)
        tasks = [asyncio.create_task(i.run()) for i in (informer, metadata)]
        try:
            await asyncio.wait_for(informer.synced.wait(), _WAIT_SECONDS)
            await asyncio.wait_for(metadata.synced.wait(), _WAIT_SECONDS)
            assert informer.cached_keys() == ["watched/goes", "watched/stays"]
            assert metadata.cached_keys() == ["watched/goes", "watched/stays"]
            cached = metadata.get("watched/stays")
            assert isinstance(cached, ObjectMetadata)
            assert cached.name == "stays"
            listed_at = (
                await list_objects(client, ConfigMap, namespace="watched")
            ).resource_version
            # Writes elsewhere move etcd's revision past the informer's, then it is compacted.
            for index in range(3):
                await client.create(_configmap(f"n{index}", "noise"))
            _compact(etcd_server)
            for metadata_only in (False, True):
                with pytest.raises(KubeGone, match="too old"):
                    await asyncio.wait_for(
                        anext(
                            aiter(
                                watch_from(
                                    client,
                                    ConfigMap,
                                    namespace="watched",
                                    resource_version=listed_at,
                                    metadata_only=metadata_only,
                                )
                            )
                        ),
                        _WAIT_SECONDS,
                    )
            await eventually(
                lambda: informer.relists >= 2 and metadata.relists >= 2,
                what="a relist of both after 410 Gone",
            )
            await client.delete(ConfigMap, "goes", namespace="watched")
            await client.create(_configmap("new", "watched"))
            await eventually(
                lambda: (
                    informer.cached_keys()
                    == metadata.cached_keys()
                    == ["watched/new", "watched/stays"]
                ),
                what="both caches to follow the watch after the relist",
            )
            assert {"watched/goes", "watched/new"} <= set(keys)
            assert {"watched/goes", "watched/new"} <= set(metadata_keys)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()

    asyncio.run(scenario())
