"""The ``kubernetes`` sync provider against the real test apiserver: Secrets of another namespace
read with a bearer token, a kubeconfig from a Secret, or a requested ServiceAccount token."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
import yaml

from sealbox.errors import ConfigError, ProviderAuthError, ProviderError, RemoteKeyMissing
from sealbox.sync.providers import RemoteRef, SecretKeyRef, StoreContext, open_provider
from sealbox.sync.providers.kubernetes import KubernetesProvider
from tests.integration.kube_apiserver import KubeApiserver

T = TypeVar("T")
VALUE = "s3cr3t-" + secrets.token_hex(8)


def _context(
    values: dict[tuple[str, str], bytes], tokens: list[tuple[str, str | None, tuple[str, ...]]]
) -> StoreContext:
    async def secret_value(ref: SecretKeyRef) -> bytes:
        return values[(ref.name, ref.key)]

    async def token(name: str, namespace: str | None, audiences: tuple[str, ...]) -> str:
        tokens.append((name, namespace, audiences))
        return values[("token-request", name)].decode()

    return StoreContext("SecretStore team-a/remote", secret_value, token)


def _token_spec(api: KubeApiserver, namespace: str) -> dict[str, Any]:
    return {
        "remoteNamespace": namespace,
        "server": {"url": api.url, "caBundle": base64.b64encode(api.ca_file.read_bytes()).decode()},
        "auth": {"token": {"bearerToken": {"name": "remote", "key": "token"}}},
    }


def _run(
    spec: dict[str, Any],
    values: dict[tuple[str, str], bytes],
    scenario: Callable[[KubernetesProvider], Awaitable[T]],
    tokens: list[tuple[str, str | None, tuple[str, ...]]] | None = None,
) -> T:
    async def main() -> T:
        provider = await open_provider(
            {"kubernetes": spec}, _context(values, [] if tokens is None else tokens)
        )
        assert isinstance(provider, KubernetesProvider)
        try:
            return await scenario(provider)
        finally:
            await provider.close()

    return asyncio.run(main())


def _secret(api: KubeApiserver, namespace: str, name: str, data: dict[str, bytes]) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    # Server-side: a client-side apply would copy the data into the last-applied annotation.
    api.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(manifest)
    )


def _admin(api: KubeApiserver) -> dict[tuple[str, str], bytes]:
    return {("remote", "token"): api.admin.token.encode()}


def test_fetch_property_whole_secret_binary_and_extract(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    api, ns = kube_apiserver, kube_namespace
    _secret(api, ns, "db", {"password": VALUE.encode(), "user": b"app", "cfg": b'{"a":{"b":1}}'})
    _secret(api, ns, "blob", {"raw": b"\x00\xff\x10"})

    async def scenario(provider: KubernetesProvider) -> None:
        password = await provider.fetch(RemoteRef("db", property="password"))
        assert password.value == VALUE.encode()
        assert VALUE not in repr(password)
        whole = await provider.fetch(RemoteRef("db"))
        assert json.loads(whole.value) == {
            "password": VALUE,
            "user": "app",
            "cfg": '{"a":{"b":1}}',
        }
        assert whole.version == password.version
        assert (await provider.fetch(RemoteRef("blob", property="raw"))).value == b"\x00\xff\x10"
        with pytest.raises(ProviderError, match="binary values") as caught:
            await provider.fetch(RemoteRef("blob"))
        assert "\\x00" not in str(caught.value)
        assert await provider.fetch_map(RemoteRef("db")) == {
            "password": VALUE.encode(),
            "user": b"app",
            "cfg": b'{"a":{"b":1}}',
        }
        assert await provider.fetch_map(RemoteRef("db", property="cfg")) == {"a": b'{"b": 1}'}
        assert await provider.fetch_map(RemoteRef("blob")) == {"raw": b"\x00\xff\x10"}

    _run(_token_spec(api, ns), _admin(api), scenario)


def test_version_is_the_resource_version_read_from_metadata_alone(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    api, ns = kube_apiserver, kube_namespace
    _secret(api, ns, "db", {"password": VALUE.encode()})
    seen: list[tuple[str, str, bytes]] = []

    async def record(response: httpx2.Response) -> None:
        await response.aread()
        accept = response.request.headers.get("Accept", "")
        seen.append((str(response.request.url), accept, response.content))

    async def scenario(provider: KubernetesProvider) -> None:
        first = await provider.fetch(RemoteRef("db", property="password"))
        assert provider.client is not None
        provider.client._client._client.event_hooks["response"].append(record)
        assert await provider.version(RemoteRef("db")) == first.version
        ((url, accept, body),) = seen
        assert "as=PartialObjectMetadataList" in accept
        assert "fieldSelector=metadata.name%3Ddb" in url
        document = json.loads(body)
        assert document["kind"] == "PartialObjectMetadataList"
        assert "data" not in document["items"][0]
        assert VALUE.encode() not in body
        assert base64.b64encode(VALUE.encode()) not in body

        _secret(api, ns, "db", {"password": b"rotated"})
        second = await provider.version(RemoteRef("db"))
        assert second != first.version
        now = await provider.fetch(RemoteRef("db", property="password"))
        assert (now.value, now.version) == (b"rotated", second)

    _run(_token_spec(api, ns), _admin(api), scenario)


def test_missing_secret_key_and_versions(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    api, ns = kube_apiserver, kube_namespace
    _secret(api, ns, "db", {"password": VALUE.encode()})

    async def scenario(provider: KubernetesProvider) -> list[str]:
        messages = []
        for call in (
            provider.fetch(RemoteRef("nope", property="password")),
            provider.version(RemoteRef("nope")),
            provider.fetch(RemoteRef("db", property="user")),
            provider.fetch_map(RemoteRef("nope")),
        ):
            with pytest.raises(RemoteKeyMissing) as caught:
                await call
            messages.append(str(caught.value))
        with pytest.raises(ProviderError, match="keeps no versions"):
            await provider.fetch(RemoteRef("db", version="3"))
        return messages

    messages = _run(_token_spec(api, ns), _admin(api), scenario)
    assert messages[0].startswith(f"SecretStore team-a/remote: {ns}/nope#password: ")
    assert f"{ns}/nope" in messages[1]
    assert "db#user: the Secret has no key user" in messages[2]
    assert all(VALUE not in message for message in messages)


@pytest.mark.parametrize("who", ["unknown", "alice"])
def test_refused_credentials_back_off(
    kube_apiserver: KubeApiserver, kube_namespace: str, who: str
) -> None:
    """A token the apiserver does not know (401, asked again once) or a user RBAC does not let
    read Secrets (403): ProviderAuthError, then no request until the backoff has passed."""
    api, ns = kube_apiserver, kube_namespace
    _secret(api, ns, "db", {"password": VALUE.encode()})
    token = secrets.token_hex(16) if who == "unknown" else api.users["alice"].token
    sent: list[str] = []

    async def record(request: httpx2.Request) -> None:
        sent.append(str(request.url))

    async def scenario(provider: KubernetesProvider) -> None:
        with pytest.raises(ProviderAuthError) as caught:
            await provider.fetch(RemoteRef("db", property="password"))
        assert caught.value.retry_after > 0
        assert ("401" if who == "unknown" else "forbidden") in str(caught.value)
        for text in (str(caught.value), repr(provider)):
            assert token not in text
            assert VALUE not in text
        assert provider.client is not None
        provider.client._client._client.event_hooks["request"].append(record)
        for call in (provider.version(RemoteRef("db")), provider.find(None, ".")):
            with pytest.raises(ProviderAuthError, match="next try in"):
                await call
        assert sent == []  # no storm: nothing reaches the apiserver during the backoff

    values = {("remote", "token"): token.encode()}
    _run(_token_spec(api, ns), values, scenario)


def test_find_by_name_regexp(kube_apiserver: KubeApiserver, kube_namespace: str) -> None:
    api, ns = kube_apiserver, kube_namespace
    for name in ("app-a", "app-b", "other"):
        _secret(api, ns, name, {"k": name.encode()})

    async def scenario(provider: KubernetesProvider) -> dict[str, bytes]:
        assert await provider.find("other", "^app-") == {}
        return await provider.find(None, "^app-")

    assert _run(_token_spec(api, ns), _admin(api), scenario) == {
        "app-a": b'{"k":"app-a"}',
        "app-b": b'{"k":"app-b"}',
    }


def test_kubeconfig_from_a_secret(kube_apiserver: KubeApiserver, kube_namespace: str) -> None:
    api, ns = kube_apiserver, kube_namespace
    _secret(api, ns, "db", {"password": VALUE.encode()})
    kubeconfig = yaml.safe_dump(api.kubeconfig_document("admin")).encode()
    spec = {"remoteNamespace": ns, "authRef": {"name": "remote-kubeconfig", "key": "config"}}

    async def scenario(provider: KubernetesProvider) -> bytes:
        return (await provider.fetch(RemoteRef("db", property="password"))).value

    values = {("remote-kubeconfig", "config"): kubeconfig}
    assert _run(spec, values, scenario) == VALUE.encode()


def test_service_account_token(kube_apiserver: KubeApiserver, kube_namespace: str) -> None:
    """The store asks the controller for a token of a ServiceAccount that RBAC lets read the
    remote namespace's Secrets; the token comes from the apiserver's TokenRequest API."""
    api, ns = kube_apiserver, kube_namespace
    _secret(api, ns, "db", {"password": VALUE.encode()})
    api.kubectl("create", "role", "read", "--verb=get,list", "--resource=secrets", "-n", ns)
    api.kubectl(
        "create", "rolebinding", "read", "--role=read", f"--serviceaccount={ns}:default", "-n", ns
    )
    token = api.kubectl("create", "token", "default", "-n", ns).stdout.strip()
    spec = _token_spec(api, ns)
    spec["auth"] = {"serviceAccount": {"name": "default", "audiences": []}}
    asked: list[tuple[str, str | None, tuple[str, ...]]] = []

    async def scenario(provider: KubernetesProvider) -> bytes:
        return (await provider.fetch(RemoteRef("db", property="password"))).value

    assert _run(spec, {("token-request", "default"): token.encode()}, scenario, asked) == (
        VALUE.encode()
    )
    assert asked == [("default", None, ())]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "spec.provider.kubernetes.auth"),
        (
            {"auth": {"token": {"bearerToken": {"name": "x"}}}},
            "spec.provider.kubernetes.auth.token.bearerToken.key",
        ),
        (
            {"server": {"url": "http://x"}, "authRef": {"name": "k", "key": "c"}},
            "spec.provider.kubernetes.server.url",
        ),
        (
            {
                "server": {"caProvider": {"type": "ConfigMap", "name": "c", "key": "k"}},
                "authRef": {"name": "k", "key": "c"},
            },
            "spec.provider.kubernetes.server.caProvider.type",
        ),
        ({"remoteNamespace": "Bad_NS", "authRef": {"name": "k", "key": "c"}}, "remoteNamespace"),
    ],
)
def test_bad_specs_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        asyncio.run(open_provider({"kubernetes": spec}, _context({}, [])))
    assert field in str(caught.value)


def test_the_documented_store_is_accepted() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "sync.md"
    section = doc.read_text(encoding="utf-8").split("\n## Providers: Kubernetes\n")[1]
    block = re.search(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    assert block is not None
    store = yaml.safe_load(block.group(1))
    provider = asyncio.run(open_provider(store["spec"]["provider"], _context({}, [])))
    assert isinstance(provider, KubernetesProvider)
    assert provider.namespace == "shared"


def test_a_rotated_token_is_read_again_after_401(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    """The client was built with the old token; the apiserver answers 401, the provider reads
    the token Secret again and retries once with the new one: the read succeeds."""
    api, ns = kube_apiserver, kube_namespace
    _secret(api, ns, "db", {"password": VALUE.encode()})
    tokens = [secrets.token_hex(16).encode(), api.admin.token.encode()]
    reads: list[SecretKeyRef] = []

    async def secret_value(ref: SecretKeyRef) -> bytes:
        reads.append(ref)
        return tokens[min(len(reads), 2) - 1]

    async def no_token(name: str, namespace: str | None, audiences: tuple[str, ...]) -> str:
        raise AssertionError("not asked")

    async def main() -> bytes:
        context = StoreContext("SecretStore team-a/remote", secret_value, no_token)
        provider = await open_provider({"kubernetes": _token_spec(api, ns)}, context)
        try:
            return (await provider.fetch(RemoteRef("db", property="password"))).value
        finally:
            await provider.close()

    assert asyncio.run(main()) == VALUE.encode()
    assert reads == [SecretKeyRef("remote", "token")] * 2


def test_an_unusable_kubeconfig_is_not_quoted(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    token = secrets.token_hex(16)
    spec = {"remoteNamespace": kube_namespace, "authRef": {"name": "k", "key": "config"}}

    async def scenario(provider: KubernetesProvider) -> None:
        for garbage in (f"users: [{{token: {token}", f"token: {token}"):
            values[("k", "config")] = garbage.encode()
            with pytest.raises(ProviderAuthError, match="credentials") as caught:
                await provider.fetch(RemoteRef("db"))
            assert token not in str(caught.value)

    values: dict[tuple[str, str], bytes] = {}
    _run(spec, values, scenario)
