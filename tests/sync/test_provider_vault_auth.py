"""The OpenBao/Vault provider's one token per store: token, AppRole and Kubernetes logins,
renewal, revocation on close, and backoff after a refused credential, each counted in OpenBao's
audit log (a real ``bao server -dev``; Kubernetes auth reviewed by the real test apiserver)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from sealbox.errors import ProviderAuthError, ProviderUnavailable
from sealbox.sync.providers import RemoteRef, SecretKeyRef, StoreContext, open_provider
from sealbox.sync.providers.vault import VaultProvider, parse_store
from sealbox.sync.providers.vault_auth import TokenSession, VaultChannel, token_login
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.openbao_audit import AuditedOpenBao
from tests.integration.processes import free_port

pytestmark = pytest.mark.integration

T = TypeVar("T")
LABEL = "ClusterSecretStore bao"


class FakeClock:
    """Monotonic seconds the test moves by hand (the server's own clock stays real)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def context(
    values: dict[tuple[str, str], str],
    sa_token: Callable[[str, str | None, tuple[str, ...]], Awaitable[str]] | None = None,
) -> StoreContext:
    async def secret_value(ref: SecretKeyRef) -> bytes:
        return values[(ref.name, ref.key)].encode()

    async def no_token(name: str, namespace: str | None, audiences: tuple[str, ...]) -> str:
        raise AssertionError("no ServiceAccount token expected")

    return StoreContext(LABEL, secret_value, sa_token or no_token)


def reader(openbao: AuditedOpenBao, key: str) -> str:
    """A policy (named after ``key``) that reads ``secret/<key>`` and its metadata."""
    policy = f"read-{key}"
    openbao.admin.write(
        f"sys/policies/acl/{policy}",
        policy=f'path "secret/data/{key}" {{ capabilities = ["read"] }}\n'
        f'path "secret/metadata/{key}" {{ capabilities = ["read"] }}\n',
    )
    return policy


def seeded(openbao: AuditedOpenBao) -> tuple[str, str]:
    key = f"k-{secrets.token_hex(4)}"
    openbao.admin.write(f"secret/data/{key}", data={"v": "value"})
    return key, reader(openbao, key)


def run(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(body())


def logins(openbao: AuditedOpenBao, since: int, path: str) -> int:
    return sum(1 for r in openbao.requests(since) if r.path == path)


def test_wrong_token_is_an_auth_error_then_backs_off_without_a_login_storm(
    openbao_audited: AuditedOpenBao,
) -> None:
    key, _ = seeded(openbao_audited)
    wrong = f"s.{secrets.token_urlsafe(24)}"
    clock = FakeClock()
    spec: dict[str, Any] = {
        "server": openbao_audited.address,
        "path": "secret",
        "auth": {"tokenSecretRef": {"name": "t", "key": "token"}},
    }

    async def read() -> str:
        return wrong

    async def body() -> list[ProviderAuthError]:
        channel = VaultChannel(LABEL, openbao_audited.address)
        session = TokenSession(channel, token_login(read), method="token auth", clock=clock)
        provider = VaultProvider(parse_store(spec, LABEL), session)
        refused: list[ProviderAuthError] = []
        try:
            for _ in range(25):  # a controller retrying many ExternalSecrets of this store
                with pytest.raises(ProviderAuthError) as caught:
                    await provider.fetch(RemoteRef(key, "v"))
                refused.append(caught.value)
            clock.now += refused[0].retry_after + 0.1  # the backoff has passed: one new login
            for _ in range(5):
                with pytest.raises(ProviderAuthError) as caught:
                    await provider.version(RemoteRef(key))
                refused.append(caught.value)
        finally:
            await provider.close()
        return refused

    mark = openbao_audited.mark()
    refused = run(body)
    sent = openbao_audited.requests(mark)
    assert [r.path for r in sent] == ["auth/token/lookup-self", "auth/token/lookup-self"]
    assert refused[0].retry_after == 5.0
    assert refused[-1].retry_after > refused[0].retry_after  # doubled
    assert all(err.retry_after > 0 for err in refused)
    assert str(refused[0]).startswith(f"{LABEL}: token auth refused")
    assert "permission denied" in str(refused[0])
    assert all(wrong not in str(err) and wrong not in repr(err) for err in refused)


def test_one_login_for_many_concurrent_reads_and_revoked_on_close(
    openbao_audited: AuditedOpenBao,
) -> None:
    key, policy = seeded(openbao_audited)
    role_id, secret_id = openbao_audited.admin.approle(
        f"r-{key}", policy, token_ttl="1h", token_max_ttl="2h"
    )
    spec = {
        "vault": {
            "server": openbao_audited.address,
            "path": "secret",
            "auth": {"appRole": {"roleId": role_id, "secretRef": {"name": "ar", "key": "id"}}},
        }
    }

    async def body() -> list[bytes]:
        provider = await open_provider(spec, context({("ar", "id"): secret_id}))
        try:
            values = await asyncio.gather(*(provider.fetch(RemoteRef(key, "v")) for _ in range(20)))
            versions = await asyncio.gather(*(provider.version(RemoteRef(key)) for _ in range(5)))
            assert versions == ["1"] * 5
            assert openbao_audited.admin.accessors_with_policy(policy)  # the token is live
            return [v.value for v in values]
        finally:
            await provider.close()
            await provider.close()  # idempotent

    mark = openbao_audited.mark()
    assert run(body) == [b"value"] * 20
    sent = openbao_audited.requests(mark)
    assert logins(openbao_audited, mark, "auth/approle/login") == 1
    assert sum(1 for r in sent if r.path == "auth/token/revoke-self") == 1
    assert openbao_audited.admin.accessors_with_policy(policy) == []  # revoked


def test_token_auth_never_revokes_the_operators_token(openbao_audited: AuditedOpenBao) -> None:
    key, policy = seeded(openbao_audited)
    token = openbao_audited.admin.token(policy, ttl="1h")
    spec = {
        "vault": {
            "server": openbao_audited.address,
            "path": "secret",
            "auth": {"tokenSecretRef": {"name": "t", "key": "token"}},
        }
    }

    async def body() -> bytes:
        provider = await open_provider(spec, context({("t", "token"): token}))
        try:
            return (await provider.fetch(RemoteRef(key, "v"))).value
        finally:
            await provider.close()

    mark = openbao_audited.mark()
    assert run(body) == b"value"
    assert "auth/token/revoke-self" not in [r.path for r in openbao_audited.requests(mark)]
    assert openbao_audited.admin.accessors_with_policy(policy)  # still alive


def test_short_ttl_token_is_renewed_in_the_background_not_replaced(
    openbao_audited: AuditedOpenBao,
) -> None:
    key, policy = seeded(openbao_audited)
    role_id, secret_id = openbao_audited.admin.approle(
        f"r-{key}", policy, token_ttl="2s", token_max_ttl="1h"
    )
    spec = {
        "vault": {
            "server": openbao_audited.address,
            "path": "secret",
            "auth": {"appRole": {"roleId": role_id, "secretRef": {"name": "ar", "key": "id"}}},
        }
    }

    async def body() -> tuple[int, int]:
        provider = await open_provider(spec, context({("ar", "id"): secret_id}))
        assert isinstance(provider, VaultProvider)
        try:
            assert (await provider.fetch(RemoteRef(key, "v"))).value == b"value"
            # Wait for two renewals: by then the first 2 s lease is over.
            while provider.session.renewals < 2:
                await asyncio.sleep(0.05)
            assert (await provider.fetch(RemoteRef(key, "v"))).value == b"value"
            return provider.session.logins, provider.session.renewals
        finally:
            await provider.close()

    mark = openbao_audited.mark()
    logged_in, renewed = run(body)
    assert logged_in == 1
    assert renewed >= 2
    assert logins(openbao_audited, mark, "auth/approle/login") == 1
    assert logins(openbao_audited, mark, "auth/token/renew-self") == renewed


def test_lazy_renewal_before_use_when_two_thirds_have_passed(
    openbao_audited: AuditedOpenBao,
) -> None:
    key, policy = seeded(openbao_audited)
    token = openbao_audited.admin.token(policy, ttl="1h", renewable=True)
    spec: dict[str, Any] = {
        "server": openbao_audited.address,
        "path": "secret",
        "auth": {"tokenSecretRef": {"name": "t", "key": "token"}},
    }
    clock = FakeClock()

    async def read() -> str:
        return token

    async def body() -> None:
        channel = VaultChannel(LABEL, openbao_audited.address)
        session = TokenSession(channel, token_login(read), method="token auth", clock=clock)
        provider = VaultProvider(parse_store(spec, LABEL), session)
        try:
            await provider.fetch(RemoteRef(key, "v"))
            mark = openbao_audited.mark()
            await provider.fetch(RemoteRef(key, "v"))
            assert "auth/token/renew-self" not in [r.path for r in openbao_audited.requests(mark)]
            clock.now += 2500  # past two thirds of the hour
            mark = openbao_audited.mark()
            await provider.fetch(RemoteRef(key, "v"))
            paths = [r.path for r in openbao_audited.requests(mark)]
            assert paths == ["auth/token/renew-self", "secret/data/" + key]
            assert (session.logins, session.renewals) == (1, 1)
        finally:
            await provider.close()

    run(body)


def test_kubernetes_auth_with_a_token_request_jwt_reviewed_by_the_apiserver(
    openbao_kubernetes_auth: AuditedOpenBao, kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    openbao = openbao_kubernetes_auth
    key, policy = seeded(openbao)
    kube_apiserver.kubectl("create", "serviceaccount", "sync", "-n", kube_namespace)
    kube_apiserver.kubectl("create", "serviceaccount", "other", "-n", kube_namespace)
    openbao.admin.write(
        f"auth/kubernetes/role/sync-{key}",
        bound_service_account_names=["sync"],
        bound_service_account_namespaces=[kube_namespace],
        token_policies=[policy],
        token_ttl="1h",
    )
    requested: list[tuple[str, str | None]] = []

    async def sa_token(name: str, namespace: str | None, audiences: tuple[str, ...]) -> str:
        requested.append((name, namespace))
        result = await asyncio.to_thread(
            kube_apiserver.kubectl, "create", "token", name, "-n", namespace or kube_namespace
        )
        return result.stdout.strip()

    def spec(account: str) -> dict[str, Any]:
        return {
            "vault": {
                "server": openbao.address,
                "path": "secret",
                "auth": {
                    "kubernetes": {"role": f"sync-{key}", "serviceAccountRef": {"name": account}}
                },
            }
        }

    async def body(account: str) -> list[bytes | str]:
        provider = await open_provider(spec(account), context({}, sa_token))
        results: list[bytes | str] = []
        try:
            for _ in range(5):
                try:
                    results.append((await provider.fetch(RemoteRef(key, "v"))).value)
                except ProviderAuthError as err:
                    results.append(str(err))
        finally:
            await provider.close()
        return results

    mark = openbao.mark()
    assert run(lambda: body("sync")) == [b"value"] * 5
    assert requested == [("sync", None)]
    assert logins(openbao, mark, "auth/kubernetes/login") == 1
    assert openbao.admin.accessors_with_policy(policy) == []  # revoked on close

    mark = openbao.mark()
    refused = run(lambda: body("other"))  # a ServiceAccount the role is not bound to
    assert all(
        isinstance(text, str) and text.startswith(f"{LABEL}: Kubernetes login as role sync-")
        for text in refused
    )
    assert "refused" in str(refused[0])
    assert logins(openbao, mark, "auth/kubernetes/login") == 1  # backing off: no login storm


def test_a_revoked_token_is_replaced_by_one_new_login(openbao_audited: AuditedOpenBao) -> None:
    key, policy = seeded(openbao_audited)
    role_id, secret_id = openbao_audited.admin.approle(f"r-{key}", policy, token_ttl="1h")
    spec = {
        "vault": {
            "server": openbao_audited.address,
            "path": "secret",
            "auth": {"appRole": {"roleId": role_id, "secretRef": {"name": "ar", "key": "id"}}},
        }
    }

    async def body() -> int:
        provider = await open_provider(spec, context({("ar", "id"): secret_id}))
        assert isinstance(provider, VaultProvider)
        try:
            await provider.fetch(RemoteRef(key, "v"))
            for accessor in openbao_audited.admin.accessors_with_policy(policy):
                openbao_audited.admin.revoke_accessor(accessor)  # revoked behind our back
            assert (await provider.fetch(RemoteRef(key, "v"))).value == b"value"
            assert (await provider.fetch(RemoteRef(key, "v"))).value == b"value"
            return provider.session.logins
        finally:
            await provider.close()

    mark = openbao_audited.mark()
    assert run(body) == 2
    assert logins(openbao_audited, mark, "auth/approle/login") == 2


def test_a_token_at_its_max_ttl_is_replaced_by_a_new_login(openbao_audited: AuditedOpenBao) -> None:
    key, policy = seeded(openbao_audited)
    role_id, secret_id = openbao_audited.admin.approle(
        f"r-{key}", policy, token_ttl="2s", token_max_ttl="3s"
    )
    spec = {
        "vault": {
            "server": openbao_audited.address,
            "path": "secret",
            "auth": {"appRole": {"roleId": role_id, "secretRef": {"name": "ar", "key": "id"}}},
        }
    }

    async def body() -> None:
        provider = await open_provider(spec, context({("ar", "id"): secret_id}))
        assert isinstance(provider, VaultProvider)
        try:
            await provider.fetch(RemoteRef(key, "v"))
            while provider.session.logins < 2:  # renewals run into the max TTL, then a login
                await asyncio.sleep(0.05)
            assert (await provider.fetch(RemoteRef(key, "v"))).value == b"value"
            assert provider.session.renewals >= 1
        finally:
            await provider.close()

    run(body)


def test_an_unreachable_server_is_unavailable_naming_the_store() -> None:
    spec = {
        "vault": {
            "server": f"http://127.0.0.1:{free_port()}",
            "path": "secret",
            "auth": {"tokenSecretRef": {"name": "t", "key": "token"}},
        }
    }

    async def body() -> None:
        provider = await open_provider(spec, context({("t", "token"): "s.unused"}))
        try:
            await provider.fetch(RemoteRef("db", "password"))
        finally:
            await provider.close()

    with pytest.raises(ProviderUnavailable, match=rf"^{LABEL}: token lookup .*cannot reach"):
        run(body)
