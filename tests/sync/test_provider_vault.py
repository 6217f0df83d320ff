"""The OpenBao/Vault provider's KV reads, against a real ``bao server -dev`` with an audit log.

Every test writes its own keys (random names) into the session's audited OpenBao and reads them
through :func:`sealbox.sync.providers.open_provider`, as the controller will.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from sealbox.errors import ConfigError, ProviderAuthError, ProviderError, RemoteKeyMissing
from sealbox.sync.providers import (
    PROVIDER_MODULES,
    Provider,
    RemoteRef,
    SecretKeyRef,
    StoreContext,
    open_provider,
)
from tests.integration.openbao_audit import AuditedOpenBao

pytestmark = pytest.mark.integration

T = TypeVar("T")
LABEL = "SecretStore team-a/bao"


def store_context(secrets_by_ref: Mapping[tuple[str, str], str]) -> StoreContext:
    """A context whose referenced Secrets hold ``secrets_by_ref[(name, key)]``."""

    async def secret_value(ref: SecretKeyRef) -> bytes:
        return secrets_by_ref[(ref.name, ref.key)].encode()

    async def no_token(name: str, namespace: str | None, audiences: tuple[str, ...]) -> str:
        raise AssertionError("no ServiceAccount token expected")

    return StoreContext(LABEL, secret_value, no_token)


def token_spec(openbao: AuditedOpenBao, **settings: Any) -> dict[str, Any]:
    return {
        "vault": {
            "server": openbao.address,
            "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}},
            **settings,
        }
    }


def run_with(
    openbao: AuditedOpenBao,
    token: str,
    body: Callable[[Provider], Awaitable[T]],
    **settings: Any,
) -> T:
    async def main() -> T:
        provider = await open_provider(
            token_spec(openbao, **settings), store_context({("bao-token", "token"): token})
        )
        try:
            return await body(provider)
        finally:
            await provider.close()

    return asyncio.run(main())


def reader_token(openbao: AuditedOpenBao) -> str:
    admin = openbao.admin
    admin.write(
        "sys/policies/acl/sync-reader",
        policy='path "secret/*" { capabilities = ["read", "list"] }\n'
        'path "kv1/*" { capabilities = ["read", "list"] }\n',
    )
    return admin.token("sync-reader", ttl="1h", renewable=True)


def name() -> str:
    return f"app-{secrets.token_hex(4)}"


def test_kv2_fetch_whole_value_property_nested_and_version(openbao_audited: AuditedOpenBao) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"user": "u1", "password": "p1"})
    admin.write(
        f"secret/data/{key}",
        data={"user": "u2", "password": "p2", "db": {"host": "h", "port": 5432}, "a.b": "dotted"},
    )

    async def body(provider: Provider) -> None:
        whole = await provider.fetch(RemoteRef(key))
        assert json.loads(whole.value)["password"] == "p2"
        assert whole.version == "2"
        assert (await provider.fetch(RemoteRef(key, "password"))).value == b"p2"
        assert (await provider.fetch(RemoteRef(key, "db.host"))).value == b"h"
        assert (await provider.fetch(RemoteRef(key, "db.port"))).value == b"5432"
        assert (await provider.fetch(RemoteRef(key, "a.b"))).value == b"dotted"
        assert json.loads((await provider.fetch(RemoteRef(key, "db"))).value) == {
            "host": "h",
            "port": 5432,
        }
        pinned = await provider.fetch(RemoteRef(key, "password", version="1"))
        assert (pinned.value, pinned.version) == (b"p1", "1")
        extracted = await provider.fetch_map(RemoteRef(key))
        assert extracted["user"] == b"u2"
        assert json.loads(extracted["db"]) == {"host": "h", "port": 5432}
        assert await provider.fetch_map(RemoteRef(key, "db")) == {"host": b"h", "port": b"5432"}

    run_with(openbao_audited, reader_token(openbao_audited), body, path="secret")


def test_kv2_without_path_takes_the_mount_from_the_key(openbao_audited: AuditedOpenBao) -> None:
    key = name()
    openbao_audited.admin.write(f"secret/data/team/{key}", data={"v": "x"})

    async def body(provider: Provider) -> bytes:
        return (await provider.fetch(RemoteRef(f"secret/team/{key}", "v"))).value

    assert run_with(openbao_audited, reader_token(openbao_audited), body) == b"x"


def test_kv1_fetch_has_no_version(openbao_audited: AuditedOpenBao) -> None:
    key = name()
    openbao_audited.admin.write(f"kv1/{key}", user="v1user", nested={"k": "v"})

    async def body(provider: Provider) -> None:
        fetched = await provider.fetch(RemoteRef(key, "user"))
        assert (fetched.value, fetched.version) == (b"v1user", None)
        assert (await provider.fetch(RemoteRef(key, "nested.k"))).value == b"v"
        assert await provider.version(RemoteRef(key)) is None
        with pytest.raises(ProviderError, match="KV v1 keeps no versions"):
            await provider.fetch(RemoteRef(key, version="1"))

    run_with(openbao_audited, reader_token(openbao_audited), body, path="kv1", version="v1")


def test_version_reads_metadata_only_and_follows_writes(openbao_audited: AuditedOpenBao) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"v": "1"})

    async def body(provider: Provider) -> None:
        await provider.version(RemoteRef(key))  # logs in first
        mark = openbao_audited.mark()
        assert await provider.version(RemoteRef(key)) == "1"
        sent = openbao_audited.requests(mark)
        assert [(r.operation, r.path) for r in sent] == [("read", f"secret/metadata/{key}")]
        admin.write(f"secret/data/{key}", data={"v": "2"})
        assert await provider.version(RemoteRef(key)) == "2"

    run_with(openbao_audited, reader_token(openbao_audited), body, path="secret")


def test_missing_key_property_and_version_name_the_path(openbao_audited: AuditedOpenBao) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"v": "1"})

    async def body(provider: Provider) -> None:
        with pytest.raises(RemoteKeyMissing, match=rf"^{LABEL}: secret/nope-{key}: no such key"):
            await provider.fetch(RemoteRef(f"nope-{key}"))
        with pytest.raises(RemoteKeyMissing, match=rf"secret/{key}#other: no such property"):
            await provider.fetch(RemoteRef(key, "other"))
        with pytest.raises(RemoteKeyMissing, match=rf"secret/{key}@7: no such version"):
            await provider.fetch(RemoteRef(key, version="7"))
        with pytest.raises(RemoteKeyMissing, match=rf"secret/nope-{key}: no such key"):
            await provider.version(RemoteRef(f"nope-{key}"))
        admin.request("DELETE", f"secret/data/{key}")  # soft-delete the current version
        with pytest.raises(RemoteKeyMissing, match="deleted"):
            await provider.version(RemoteRef(key))
        with pytest.raises(RemoteKeyMissing, match="deleted"):
            await provider.fetch(RemoteRef(key))

    run_with(openbao_audited, reader_token(openbao_audited), body, path="secret")


def test_find_lists_recursively_and_filters_by_name(openbao_audited: AuditedOpenBao) -> None:
    top = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{top}/db-main", data={"p": "1"})
    admin.write(f"secret/data/{top}/sub/db-replica", data={"p": "2"})
    admin.write(f"secret/data/{top}/cache", data={"p": "3"})

    async def body(provider: Provider) -> dict[str, bytes]:
        return await provider.find(top, r"db-")

    found = run_with(openbao_audited, reader_token(openbao_audited), body, path="secret")
    assert sorted(found) == [f"{top}/db-main", f"{top}/sub/db-replica"]
    assert json.loads(found[f"{top}/sub/db-replica"]) == {"p": "2"}


def test_permission_denied_on_a_path_is_an_auth_error_naming_it(
    openbao_audited: AuditedOpenBao,
) -> None:
    admin = openbao_audited.admin
    admin.write(
        "sys/policies/acl/only-a", policy='path "secret/data/a" { capabilities = ["read"] }'
    )
    token = admin.token("only-a", ttl="1h")

    async def body(provider: Provider) -> None:
        with pytest.raises(ProviderAuthError, match=r"secret/b: read: permission denied"):
            await provider.fetch(RemoteRef("b"))

    run_with(openbao_audited, token, body, path="secret")


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"server": "ftp://x", "auth": {"tokenSecretRef": {"name": "a", "key": "b"}}}, "server"),
        ({"server": "http://x", "version": "v3"}, "version"),
        ({"server": "http://x", "auth": {}}, "auth"),
        ({"server": "http://x", "auth": {"appRole": {"secretRef": {}}}}, "auth.appRole.roleId"),
        ({"server": "http://x", "auth": {"kubernetes": {}}}, "auth.kubernetes.role"),
        ({"server": "http://x", "caBundle": "not base64!"}, "caBundle"),
        ({"server": "http://x", "readYourWrites": True}, "readYourWrites"),
    ],
)
def test_bad_store_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    async def main() -> None:
        await open_provider({"vault": settings}, store_context({}))

    with pytest.raises(ConfigError, match=rf"spec\.provider\.vault\.{field}"):
        asyncio.run(main())


def test_no_value_or_token_in_errors_logs_or_reprs(
    openbao_audited: AuditedOpenBao, caplog: pytest.LogCaptureFixture
) -> None:
    key = name()
    value = f"value-{secrets.token_hex(8)}"
    openbao_audited.admin.write(f"secret/data/{key}", data={"v": value})
    token = reader_token(openbao_audited)
    texts: list[str] = []

    async def body(provider: Provider) -> None:
        fetched = await provider.fetch(RemoteRef(key, "v"))
        assert fetched.value == value.encode()
        texts.extend([repr(fetched), repr(provider), repr(RemoteRef(key, "v"))])
        for ref in (RemoteRef(key, "missing"), RemoteRef(f"x{key}"), RemoteRef(key, version="9")):
            with pytest.raises(ProviderError) as caught:
                await provider.fetch(ref)
            texts.append(str(caught.value))

    caplog.set_level(logging.DEBUG)
    run_with(openbao_audited, token, body, path="secret")
    texts.extend(record.getMessage() for record in caplog.records)
    joined = "\n".join(texts)
    assert value not in joined
    assert token not in joined
    assert openbao_audited.root_token not in joined
    assert value not in openbao_audited.audit_text()  # the audit device hashes values


# The providers face (registry): one module per store, imported only then.


@pytest.mark.parametrize("provider", [{}, {"gcpsm": {}}, {"vault": {}, "aws": {}}])
def test_a_store_names_exactly_one_known_provider(provider: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=rf"^{LABEL}: spec\.provider: exactly one of"):
        asyncio.run(open_provider(provider, store_context({})))


def test_the_face_imports_no_provider_library() -> None:
    probe = (
        "import sys, sealbox.sync.providers\n"
        "print(','.join(m for m in ('httpx2', 'hvac', 'boto3', 'lightkube') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
    assert PROVIDER_MODULES["vault"] == "vault"


def test_the_documented_store_example_is_accepted() -> None:
    text = (Path(__file__).parents[2] / "docs" / "sync.md").read_text(encoding="utf-8")
    section = text[text.index("## Providers: OpenBao/Vault") :]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    store = yaml.safe_load(block[1])

    async def main() -> None:
        provider = await open_provider(store["spec"]["provider"], store_context({}))
        await provider.close()  # never logged in: nothing sent, nothing to revoke

    asyncio.run(main())
