"""Re-encryption through the API against a real kube-apiserver and etcd.

The apiserver writes with a new aesgcm key while every stored value is still under aescbc
``key1`` (see :mod:`tests.rotate.aes_plane`). ``reencrypt_via_api`` must leave every stored
Secret and ConfigMap under the new key, while a writer keeps replacing some Secrets: each of them
must read back as the writer last wrote it (the writer wins; a no-op update never overwrites it).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator

import pytest

from sealbox.errors import InputError
from sealbox.kube import KubeTarget, async_client
from sealbox.rotate.api_resources import discover
from sealbox.rotate.reencrypt import ReencryptProgress, ReencryptResult, reencrypt_via_api
from tests.conformance.api import list_data, replace_secret
from tests.integration.etcd_server import EtcdServer
from tests.rotate.aes_plane import (
    CONFIGMAPS,
    NAMESPACE,
    NEW_HEAD,
    OLD_HEAD,
    RESOURCES,
    SECRETS,
    Plane,
    promoted_plane,
    secret_name,
)

pytestmark = pytest.mark.integration
CONTESTED = [secret_name(i) for i in range(SECRETS - 20, SECRETS)]  # the last ones rewritten


@pytest.fixture(scope="module")
def plane(etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    with promoted_plane(etcd_server, tmp_path_factory.mktemp("reencrypt")) as running:
        yield running


class _Writer(threading.Thread):
    """Replaces the contested Secrets over and over once started, until told to stop; remembers
    the data of each one's last write."""

    def __init__(self, plane: Plane) -> None:
        super().__init__(daemon=True)
        self.plane = plane
        self.go = threading.Event()
        self.stop = threading.Event()
        self.last: dict[str, dict[str, str]] = {}
        self.rounds = 0

    def run(self) -> None:
        self.go.wait(timeout=60)
        while not self.stop.is_set():
            for name in CONTESTED:
                value = {"v": f"writer-{secrets.token_hex(6)}"}
                self.last[name] = replace_secret(self.plane.apiserver, NAMESPACE, name, value)
            self.rounds += 1


def _reencrypt(plane: Plane, writer: _Writer, seen: list[ReencryptProgress]) -> ReencryptResult:
    def progress(update: ReencryptProgress) -> None:
        seen.append(update)
        if update.per_resource.get("secrets", (0, 0))[0] > 0:
            writer.go.set()  # the Secrets are listed: from now on each write is a conflict

    async def run() -> ReencryptResult:
        client = async_client(KubeTarget(kubeconfig=plane.apiserver.kubeconfig))
        try:
            return await reencrypt_via_api(
                client, RESOURCES, concurrency=4, qps=40.0, progress=progress, progress_every=0.05
            )
        finally:
            await client.close()

    return asyncio.run(run())


def test_every_value_is_rewritten_with_the_new_key_and_the_writer_wins(plane: Plane) -> None:
    before = plane.stored()
    assert sum(v.startswith(OLD_HEAD) for v in before.values()) >= SECRETS + CONFIGMAPS

    writer = _Writer(plane)
    writer.start()
    seen: list[ReencryptProgress] = []
    try:
        result = _reencrypt(plane, writer, seen)
    finally:
        writer.stop.set()
        writer.go.set()
        writer.join(timeout=60)

    assert result.ok, result.failed
    assert writer.rounds >= 1
    assert result.conflicts >= 1  # the writer got in between the list and some updates
    assert set(result.per_resource) == {"secrets", "configmaps"}
    secrets_tally = result.per_resource["secrets"]
    assert secrets_tally.listed == SECRETS
    assert secrets_tally.rewritten + secrets_tally.conflicts == SECRETS
    assert result.per_resource["configmaps"].rewritten >= CONFIGMAPS

    stored = plane.stored()
    not_new = sorted(key for key, value in stored.items() if not value.startswith(NEW_HEAD))
    assert not_new == []
    assert len([k for k in stored if "/secrets/" in k]) == SECRETS

    expected = {k: v for k, v in plane.written.items() if k[0] == "secrets"}
    expected.update({("secrets", NAMESPACE, name): data for name, data in writer.last.items()})
    assert list_data(plane.apiserver, "secrets") == expected

    last = seen[-1]
    assert last.finished
    assert last.failed == 0
    assert last.per_resource["secrets"] == (SECRETS, SECRETS)
    assert last.resources_done == last.resources_total == 2


def test_a_second_pass_rewrites_nothing(plane: Plane) -> None:
    async def run() -> ReencryptResult:
        client = async_client(KubeTarget(kubeconfig=plane.apiserver.kubeconfig))
        try:
            return await reencrypt_via_api(client, ["secrets"], concurrency=8, qps=200.0)
        finally:
            await client.close()

    result = asyncio.run(run())
    assert result.ok, result.failed
    assert result.rewritten == 0
    assert result.unchanged == SECRETS


def test_discovery_matches_patterns_as_the_apiserver_does(plane: Plane) -> None:
    async def run() -> tuple[set[str], set[str], tuple[str, ...]]:
        client = async_client(KubeTarget(kubeconfig=plane.apiserver.kubeconfig))
        try:
            everything = await discover(client, ["*.*"])
            apps = await discover(client, ["*.apps", "widgets.example.com", "configmaps"])
        finally:
            await client.close()
        return (
            {api.name for api in everything.resources},
            {api.name for api in apps.resources},
            apps.unserved,
        )

    everything, apps, unserved = asyncio.run(run())
    assert {"secrets", "configmaps", "namespaces", "deployments.apps"} <= everything
    assert not any("/" in name for name in everything)  # no subresources
    assert "tokenreviews.authentication.k8s.io" not in everything  # cannot be listed
    assert "componentstatuses" not in everything  # cannot be updated
    assert not any(name.endswith(".events.k8s.io") for name in everything)  # stored as events
    assert apps == {"configmaps"} | {n for n in everything if n.endswith(".apps")}
    assert "deployments.apps" in apps
    assert unserved == ("widgets.example.com",)


def test_bad_settings_are_refused(plane: Plane) -> None:
    async def run(concurrency: int, qps: float) -> None:
        client = async_client(KubeTarget(kubeconfig=plane.apiserver.kubeconfig))
        try:
            await reencrypt_via_api(client, ["secrets"], concurrency=concurrency, qps=qps)
        finally:
            await client.close()

    with pytest.raises(InputError, match="--concurrency"):
        asyncio.run(run(0, 1.0))
    with pytest.raises(InputError, match="--qps"):
        asyncio.run(run(1, 0.0))
