"""The store registry against the real apiserver (stores, Secrets, TokenRequests, status) and a
real OpenBao whose audit log counts every login: one login per store, a reopen when the store
changes (revoking the old token), no login storm while a credential is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import pytest
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Namespace

from sealbox.controllers.sync.resources import ClusterSecretStore, SecretStore
from sealbox.controllers.sync.store_registry import (
    INVALID_PROVIDER_CONFIG,
    INVALID_STORE_CONFIGURATION,
    NAMESPACE_NOT_ALLOWED,
    STORE_MISSING,
    VALIDATION_FAILED,
    StoreNotReady,
    StoreRegistry,
)
from sealbox.errors import KubeNotFound
from sealbox.kube import KubeTarget, async_client
from sealbox.kube.errors import kube_errors
from sealbox.kube.runtime import EventRecorder
from sealbox.sync import StoreKind, StoreRef
from sealbox.sync.providers import RemoteRef
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.openbao_audit import AuditedOpenBao

pytestmark = pytest.mark.integration

T = TypeVar("T")
SS, CSS = StoreKind.SECRET_STORE, StoreKind.CLUSTER_SECRET_STORE


class Clock:
    """Monotonic seconds for the registry's backoff, moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Metrics:
    """What the registry told the metrics (the StoreMetrics protocol)."""

    def __init__(self) -> None:
        self.ready: dict[tuple[StoreKind, str | None, str], bool] = {}
        self.forgotten: list[tuple[StoreKind, str | None, str]] = []

    def store_condition(
        self, kind: StoreKind, namespace: str | None, name: str, *, ready: bool
    ) -> None:
        self.ready[(kind, namespace, name)] = ready

    def forget_store(self, kind: StoreKind, namespace: str | None, name: str) -> None:
        self.forgotten.append((kind, namespace, name))


class Cache:
    """The informer cache the registry reads, filled from the apiserver when the test says."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.stores: dict[tuple[StoreKind, str | None, str], Any] = {}
        self.labels: dict[str, dict[str, str]] = {}

    def find(self, kind: StoreKind, namespace: str | None, name: str) -> Any:
        return self.stores.get((kind, namespace, name))

    async def refresh(self, kind: StoreKind, namespace: str | None, name: str) -> Any:
        resource: Any = SecretStore if kind is SS else ClusterSecretStore
        try:
            with kube_errors():
                found = await self.client.get(resource, name, namespace=namespace)
        except KubeNotFound:
            self.stores.pop((kind, namespace, name), None)
            return None
        self.stores[(kind, namespace, name)] = found
        return found

    async def refresh_namespace(self, name: str) -> None:
        namespace = await self.client.get(Namespace, name)
        self.labels[name] = dict(namespace.metadata.labels or {}) if namespace.metadata else {}


Body = Callable[[StoreRegistry, Cache, Clock, Metrics], Awaitable[T]]


def run(apiserver: KubeApiserver, body: Body[T]) -> T:
    """``body`` with a registry on a real client; the registry is closed afterwards."""

    async def main() -> T:
        client = async_client(KubeTarget(kubeconfig=apiserver.kubeconfig))
        cache, clock, metrics = Cache(client), Clock(), Metrics()
        registry = StoreRegistry(
            client,
            find_store=cache.find,
            namespace_labels=cache.labels.get,
            events=EventRecorder(client, instance="store-registry-test"),
            metrics=metrics,
            monotonic=clock,
        )
        try:
            return await body(registry, cache, clock, metrics)
        finally:
            await registry.close()
            await client.close()

    return asyncio.run(main())


def apply(apiserver: KubeApiserver, obj: Mapping[str, Any]) -> None:
    apiserver.kubectl("apply", "-f", "-", stdin=json.dumps(obj))


def get(apiserver: KubeApiserver, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    scope = ["-n", namespace] if namespace else []
    out = apiserver.kubectl("get", kind, name, *scope, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def secret(apiserver: KubeApiserver, namespace: str, name: str, **data: str) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    apply(
        apiserver,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": encoded,
        },
    )


def store(
    kind: StoreKind, name: str, namespace: str | None, vault: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": kind.value,
        "metadata": metadata,
        "spec": {"provider": {"vault": vault}, **spec},
    }


def seeded(openbao: AuditedOpenBao) -> tuple[str, str]:
    """A KV v2 key holding ``{"v": "value"}`` and a policy reading it."""
    key = f"k-{secrets.token_hex(4)}"
    openbao.admin.write(f"secret/data/{key}", data={"v": "value"})
    policy = f"read-{key}"
    openbao.admin.write(
        f"sys/policies/acl/{policy}",
        policy=f'path "secret/data/{key}" {{ capabilities = ["read"] }}\n'
        f'path "secret/metadata/{key}" {{ capabilities = ["read"] }}\n',
    )
    return key, policy


def count(openbao: AuditedOpenBao, since: int, path: str) -> int:
    return sum(1 for r in openbao.requests(since) if r.path == path)


def token_vault(openbao: AuditedOpenBao, **ref: str) -> dict[str, Any]:
    return {
        "server": openbao.address,
        "path": "secret",
        "auth": {"tokenSecretRef": {"name": "bao", "key": "token", **ref}},
    }


def test_token_store_opens_once_reports_ready_once(
    openbao_audited: AuditedOpenBao, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace
    key, policy = seeded(openbao_audited)
    token = openbao_audited.admin.token(policy)
    secret(sync_crds, ns, "bao", token=token)
    apply(sync_crds, store(SS, "vault", ns, token_vault(openbao_audited)))
    mark = openbao_audited.mark()

    async def body(registry: StoreRegistry, cache: Cache, clock: Clock, metrics: Metrics) -> None:
        await cache.refresh(SS, ns, "vault")
        first = await registry.open(StoreRef("vault"), ns)
        assert first.key == f"SecretStore/{ns}/vault"
        assert first.label == f"SecretStore {ns}/vault"
        assert (await first.provider.fetch(RemoteRef(key, "v"))).value == b"value"
        again = await asyncio.gather(*(registry.open(StoreRef("vault"), ns) for _ in range(10)))
        assert all(opened is first for opened in again)
        await registry.report(SS, ns, "vault")
        assert metrics.ready[(SS, ns, "vault")] is True
        written = get(sync_crds, "secretstore", "vault", ns)
        (ready,) = written["status"]["conditions"]
        assert (ready["type"], ready["status"], ready["reason"], ready["message"]) == (
            "Ready",
            "True",
            "Valid",
            "store validated",
        )
        assert written["status"]["capabilities"] == "ReadOnly"
        version = written["metadata"]["resourceVersion"]
        await registry.report(SS, ns, "vault")  # the cache has not seen the write yet
        await cache.refresh(SS, ns, "vault")
        await registry.report(SS, ns, "vault")  # the cache has it now
        assert get(sync_crds, "secretstore", "vault", ns)["metadata"]["resourceVersion"] == version

    run(sync_crds, body)
    assert count(openbao_audited, mark, "auth/token/lookup-self") == 1  # one login
    assert "auth/token/revoke-self" not in [r.path for r in openbao_audited.requests(mark)]
    assert token not in openbao_audited.audit_text()
    events = json.loads(
        sync_crds.kubectl(
            "get",
            "events.events.k8s.io",
            "-n",
            ns,
            "-o",
            "json",
            "--field-selector",
            "regarding.name=vault",
        ).stdout
    )["items"]
    assert [(e["type"], e["reason"], e["note"]) for e in events] == [
        ("Normal", "Valid", "store validated")
    ]


def test_a_changed_store_is_reopened_and_the_old_token_revoked(
    openbao_kubernetes_auth: AuditedOpenBao, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    openbao, ns = openbao_kubernetes_auth, kube_namespace
    key, policy = seeded(openbao)
    sync_crds.kubectl("create", "serviceaccount", "sync", "-n", ns)
    openbao.admin.write(
        f"auth/kubernetes/role/sync-{key}",
        bound_service_account_names=["sync"],
        bound_service_account_namespaces=[ns],
        token_policies=[policy],
        token_ttl="1h",
    )
    vault = {
        "server": openbao.address,
        "path": "secret",
        "auth": {"kubernetes": {"role": f"sync-{key}", "serviceAccountRef": {"name": "sync"}}},
    }
    apply(sync_crds, store(SS, "bao", ns, vault))
    mark = openbao.mark()

    async def body(registry: StoreRegistry, cache: Cache, clock: Clock, metrics: Metrics) -> None:
        await cache.refresh(SS, ns, "bao")
        first = await registry.open(StoreRef("bao"), ns)
        assert (await first.provider.fetch(RemoteRef(key, "v"))).value == b"value"
        (old_accessor,) = openbao.admin.accessors_with_policy(policy)
        assert count(openbao, mark, "auth/kubernetes/login") == 1
        apply(sync_crds, store(SS, "bao", ns, vault, refreshInterval="1h"))  # generation 2
        assert (await cache.refresh(SS, ns, "bao"))["metadata"]["generation"] == 2
        second = await registry.open(StoreRef("bao"), ns)
        assert second is not first
        assert second.generation == 2
        assert (await second.provider.fetch(RemoteRef(key, "v"))).value == b"value"
        assert count(openbao, mark, "auth/kubernetes/login") == 2
        assert count(openbao, mark, "auth/token/revoke-self") == 1
        assert old_accessor not in openbao.admin.accessors_with_policy(policy)
        assert await registry.open(StoreRef("bao"), ns) is second

    run(sync_crds, body)
    assert count(openbao, mark, "auth/token/revoke-self") == 2  # close() revoked the second
    assert openbao.admin.accessors_with_policy(policy) == []


def test_refused_credentials_back_off_without_a_login_storm(
    openbao_audited: AuditedOpenBao, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace
    key, policy = seeded(openbao_audited)
    wrong = f"s.{secrets.token_urlsafe(24)}"
    apply(sync_crds, store(SS, "vault", ns, token_vault(openbao_audited)))
    mark = openbao_audited.mark()

    async def body(registry: StoreRegistry, cache: Cache, clock: Clock, metrics: Metrics) -> None:
        await cache.refresh(SS, ns, "vault")
        with pytest.raises(StoreNotReady) as missing:  # no Secret "bao" yet
            await registry.open(StoreRef("vault"), ns)
        assert missing.value.reason == VALIDATION_FAILED
        assert f'Secret "{ns}/bao" does not exist' in str(missing.value)
        clock.now += missing.value.retry_after
        secret(sync_crds, ns, "bao", other="x")
        with pytest.raises(StoreNotReady, match=f'Secret "{ns}/bao" has no key "token"'):
            await registry.open(StoreRef("vault"), ns)
        clock.now += 60
        secret(sync_crds, ns, "bao", token=wrong)

        async def attempt() -> StoreNotReady:
            with pytest.raises(StoreNotReady) as caught:
                await registry.open(StoreRef("vault"), ns)
            return caught.value

        refused = await asyncio.gather(*(attempt() for _ in range(20)))
        assert {err.reason for err in refused} == {VALIDATION_FAILED}
        assert "permission denied" in refused[0].message
        assert count(openbao_audited, mark, "auth/token/lookup-self") == 1
        later = await attempt()  # backing off: fails at once, no request
        assert 0 < later.retry_after <= refused[0].retry_after
        assert count(openbao_audited, mark, "auth/token/lookup-self") == 1
        await registry.report(SS, ns, "vault")
        assert metrics.ready[(SS, ns, "vault")] is False
        (ready,) = get(sync_crds, "secretstore", "vault", ns)["status"]["conditions"]
        assert (ready["status"], ready["reason"]) == ("False", VALIDATION_FAILED)
        assert "permission denied" in ready["message"]
        assert count(openbao_audited, mark, "auth/token/lookup-self") == 1  # report: no login
        clock.now += refused[0].retry_after  # backoff over: one more attempt, refused again
        again = await attempt()
        assert again.retry_after == 2 * refused[0].retry_after  # doubled
        assert count(openbao_audited, mark, "auth/token/lookup-self") == 2
        secret(sync_crds, ns, "bao", token=openbao_audited.admin.token(policy))  # fixed
        clock.now += again.retry_after
        opened = await registry.open(StoreRef("vault"), ns)
        assert (await opened.provider.fetch(RemoteRef(key, "v"))).value == b"value"

    run(sync_crds, body)
    assert wrong not in json.dumps(get(sync_crds, "secretstore", "vault", ns))


def test_cluster_store_conditions_refuse_other_namespaces(
    openbao_audited: AuditedOpenBao, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace
    key, policy = seeded(openbao_audited)
    secret(sync_crds, ns, "bao", token=openbao_audited.admin.token(policy))
    other = f"t-{secrets.token_hex(4)}"
    team = f"t-{secrets.token_hex(4)}"
    sync_crds.kubectl("create", "namespace", other)
    sync_crds.kubectl("create", "namespace", team)
    sync_crds.kubectl("label", "namespace", team, "team=a")
    name = f"css-{secrets.token_hex(4)}"
    conditions = [{"namespaces": [ns]}, {"namespaceSelector": {"matchLabels": {"team": "a"}}}]
    apply(
        sync_crds,
        store(CSS, name, None, token_vault(openbao_audited, namespace=ns), conditions=conditions),
    )
    mark = openbao_audited.mark()

    async def body(registry: StoreRegistry, cache: Cache, clock: Clock, metrics: Metrics) -> None:
        await cache.refresh(CSS, None, name)
        for namespace in (ns, other, team):
            await cache.refresh_namespace(namespace)
        ref = StoreRef(name, CSS)
        with pytest.raises(StoreNotReady) as refused:
            await registry.open(ref, other)
        assert refused.value.reason == NAMESPACE_NOT_ALLOWED
        assert str(refused.value) == (
            f'using cluster store "{name}" is not allowed from namespace "{other}": '
            "denied by spec.condition"
        )
        mine = await registry.open(ref, ns)
        theirs = await registry.open(ref, team)  # admitted by its label
        assert (mine.key, theirs.key) == (
            f"ClusterSecretStore/{name}@{ns}",
            f"ClusterSecretStore/{name}@{team}",
        )
        assert (await theirs.provider.fetch(RemoteRef(key, "v"))).value == b"value"
        await registry.report(CSS, None, name)
        (ready,) = get(sync_crds, "clustersecretstore", name, None)["status"]["conditions"]
        assert (ready["status"], ready["reason"]) == ("True", "Valid")
        assert metrics.ready[(CSS, None, name)] is True
        dropped = await registry.invalidate(CSS, None, name)
        assert dropped == tuple(sorted((mine.key, theirs.key)))
        assert registry.stores == ()

    run(sync_crds, body)
    assert count(openbao_audited, mark, "auth/token/lookup-self") == 2  # one per namespace


def test_missing_and_invalid_stores_name_the_reason_and_field(
    sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace
    vault = {
        "server": "http://127.0.0.1:1",
        "auth": {"tokenSecretRef": {"name": "bao", "key": "token"}},
    }

    def manifest(name: str, **changes: Any) -> dict[str, Any]:
        obj = store(SS, name, ns, {**vault, **changes})
        obj["metadata"]["uid"] = f"uid-{name}"
        return obj

    async def body(registry: StoreRegistry, cache: Cache, clock: Clock, metrics: Metrics) -> None:
        with pytest.raises(StoreNotReady, match=f"^SecretStore {ns}/nope not found$") as missing:
            await registry.open(StoreRef("nope"), ns)
        assert missing.value.reason == STORE_MISSING
        cache.stores[(SS, ns, "bad-version")] = manifest("bad-version", version="v3")
        with pytest.raises(StoreNotReady, match=r"spec\.provider\.vault\.version") as bad:
            await registry.open(StoreRef("bad-version"), ns)
        assert bad.value.reason == INVALID_STORE_CONFIGURATION
        cache.stores[(SS, ns, "borrow")] = manifest(
            "borrow",
            auth={"tokenSecretRef": {"name": "bao", "key": "t", "namespace": "kube-system"}},
        )
        with pytest.raises(StoreNotReady) as borrowed:
            await registry.open(StoreRef("borrow"), ns)
        assert borrowed.value.reason == INVALID_STORE_CONFIGURATION
        assert "spec.provider.vault.auth.tokenSecretRef.namespace" in str(borrowed.value)
        cache.stores[(SS, ns, "bad-ca")] = manifest("bad-ca", caBundle="not base64!")
        with pytest.raises(StoreNotReady, match=r"spec\.provider\.vault\.caBundle") as bad_ca:
            await registry.open(StoreRef("bad-ca"), ns)
        assert bad_ca.value.reason == INVALID_PROVIDER_CONFIG
        await registry.report(SS, ns, "gone")
        assert metrics.forgotten == [(SS, ns, "gone")]

    run(sync_crds, body)
