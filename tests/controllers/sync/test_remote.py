"""The remote reader against a real OpenBao: what it asks the store, counted in the audit log.

Each test opens a real store (:func:`sealbox.sync.providers.open_provider` on a parsed
SecretStore, as the store registry does) over the session's audited ``bao server -dev`` and
counts the KV reads OpenBao logged: metadata reads (``secret/metadata/<key>``), data reads
(``secret/data/<key>``) and listings.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from sealbox.controllers.sync.budget import CallBudget
from sealbox.controllers.sync.open_store import OpenStore, store_key
from sealbox.controllers.sync.remote import Observed, ObservedMap, RemoteReader, utc_now
from sealbox.errors import RemoteKeyMissing
from sealbox.sync import StoreKind, parse_store
from sealbox.sync.providers import RemoteRef, SecretKeyRef, StoreContext, open_provider
from tests.integration.openbao_audit import AuditedOpenBao

pytestmark = pytest.mark.integration

T = TypeVar("T")
LABEL = "SecretStore team-a/bao"
PAST = datetime(2000, 1, 1, tzinfo=UTC)


def reader_token(openbao: AuditedOpenBao) -> str:
    openbao.admin.write(
        "sys/policies/acl/remote-reader",
        policy='path "secret/*" { capabilities = ["read", "list"] }\n',
    )
    return openbao.admin.token("remote-reader", ttl="1h", renewable=True)


async def open_store(openbao: AuditedOpenBao, token: str) -> OpenStore:
    provider_spec = {
        "vault": {
            "server": openbao.address,
            "path": "secret",
            "version": "v2",
            "auth": {"tokenSecretRef": {"name": "bao-token", "key": "token"}},
        }
    }
    obj = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "bao", "namespace": "team-a", "uid": "uid-1", "generation": 1},
        "spec": {"provider": provider_spec},
    }

    async def secret_value(ref: SecretKeyRef) -> bytes:
        assert (ref.name, ref.key) == ("bao-token", "token")
        return token.encode()

    async def no_token(name: str, namespace: str | None, audiences: tuple[str, ...]) -> str:
        raise AssertionError("no ServiceAccount token expected")

    provider = await open_provider(provider_spec, StoreContext(LABEL, secret_value, no_token))
    return OpenStore(
        key=store_key(StoreKind.SECRET_STORE, "team-a", "bao", "team-a"),
        kind=StoreKind.SECRET_STORE,
        name="bao",
        namespace="team-a",
        uid="uid-1",
        generation=1,
        spec=parse_store(obj),
        provider_name="vault",
        provider=provider,
        label=LABEL,
    )


class Harness:
    """A reader with a generous budget, the calls it reported, and the audit log's counts."""

    def __init__(self, openbao: AuditedOpenBao, store: OpenStore) -> None:
        self.openbao = openbao
        self.store = store
        self.budget = CallBudget(store_rate=0.001, store_burst=10_000, total_rate=0, total_burst=0)
        self.reported: list[tuple[str, str, str]] = []
        self.reader = RemoteReader(self.budget, on_call=lambda *call: self.reported.append(call))
        self._mark = openbao.mark()

    def sent(self) -> list[tuple[str, str]]:
        """The KV requests logged since the last call of this method (logins left out)."""
        found = [
            (request.operation, request.path)
            for request in self.openbao.requests(self._mark)
            if request.path.startswith("secret/") and request.operation in ("read", "list")
        ]
        self._mark = self.openbao.mark()
        return found

    def budget_spent(self) -> int:
        return round(10_000 - self.budget.bucket(self.store.key).available())


def run(openbao: AuditedOpenBao, body: Callable[[Harness], Awaitable[T]]) -> T:
    token = reader_token(openbao)

    async def main() -> T:
        store = await open_store(openbao, token)
        try:
            return await body(Harness(openbao, store))
        finally:
            await store.provider.close()

    return asyncio.run(main())


def name() -> str:
    return f"remote-{secrets.token_hex(4)}"


def data(key: str) -> tuple[str, str]:
    return ("read", f"secret/data/{key}")


def metadata(key: str) -> tuple[str, str]:
    return ("read", f"secret/metadata/{key}")


def test_concurrent_reads_share_one_request_then_check_the_version_first(
    openbao_audited: AuditedOpenBao,
) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"user": "u", "password": "p1"})
    ref = RemoteRef(key, "password")

    async def body(h: Harness) -> None:
        async def round_of(count: int) -> list[Observed]:
            fresh_after = utc_now()
            return await asyncio.gather(
                *(h.reader.value(h.store, ref, fresh_after=fresh_after) for _ in range(count))
            )

        first = await round_of(50)
        assert {o.value for o in first} == {b"p1"}
        assert {o.version for o in first} == {"1"}
        # A first read needs no version check: the data read carries the version.
        assert h.sent() == [data(key)]
        assert h.reported == [("vault", "GetSecret", "success")]

        second = await round_of(50)  # nothing changed: metadata only
        assert h.sent() == [metadata(key)]
        assert {o.value for o in second} == {b"p1"}
        assert second[0].checked_at > first[0].checked_at
        assert second[0].changed_at == first[0].changed_at

        again = await h.reader.value(h.store, ref, fresh_after=PAST)  # fresh enough: no call
        assert again == second[0]
        assert h.sent() == []

        admin.write(f"secret/data/{key}", data={"user": "u", "password": "p2"})
        third = await round_of(50)
        assert h.sent() == [metadata(key), data(key)]
        assert {(o.value, o.version) for o in third} == {(b"p2", "2")}
        assert third[0].changed_at == third[0].checked_at > second[0].checked_at

        assert h.reader.calls == 4 == h.budget_spent()
        assert h.reported[1:] == [
            ("vault", "GetSecretVersion", "success"),
            ("vault", "GetSecretVersion", "success"),
            ("vault", "GetSecret", "success"),
        ]
        assert "p2" not in repr(third[0])

    run(openbao_audited, body)


def test_a_new_version_with_the_same_value_keeps_when_it_changed(
    openbao_audited: AuditedOpenBao,
) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"password": "same", "other": "1"})
    ref = RemoteRef(key, "password")

    async def body(h: Harness) -> None:
        first = await h.reader.value(h.store, ref, fresh_after=utc_now())
        admin.write(f"secret/data/{key}", data={"password": "same", "other": "2"})
        second = await h.reader.value(h.store, ref, fresh_after=utc_now())
        assert second.version == "2"
        assert second.changed_at == first.changed_at

    run(openbao_audited, body)


def test_a_pinned_version_is_fetched_once(openbao_audited: AuditedOpenBao) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"password": "old"})
    admin.write(f"secret/data/{key}", data={"password": "new"})
    ref = RemoteRef(key, "password", version="1")

    async def body(h: Harness) -> None:
        first = await h.reader.value(h.store, ref, fresh_after=utc_now())
        assert (first.value, first.version) == (b"old", "1")
        assert h.sent() == [data(key)]
        second = await h.reader.value(h.store, ref, fresh_after=utc_now() + timedelta(hours=1))
        assert second is first
        assert h.sent() == []
        assert h.reader.calls == 1

    run(openbao_audited, body)


def test_value_map_is_coalesced_and_version_first(openbao_audited: AuditedOpenBao) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"user": "u", "password": "p1"})
    ref = RemoteRef(key)

    async def body(h: Harness) -> None:
        async def round_of(count: int) -> list[ObservedMap]:
            fresh_after = utc_now()
            return await asyncio.gather(
                *(h.reader.value_map(h.store, ref, fresh_after=fresh_after) for _ in range(count))
            )

        first = await round_of(20)
        assert all(m is first[0] for m in first)
        assert dict(first[0].values) == {"user": b"u", "password": b"p1"}
        # The map read carries no version: it is read first (never later than the values).
        assert h.sent() == [metadata(key), data(key)]
        assert first[0].version == "1"
        assert "p1" not in repr(first[0])

        second = await round_of(20)
        assert h.sent() == [metadata(key)]
        assert second[0].values == first[0].values
        assert second[0].changed_at == first[0].changed_at

        admin.write(f"secret/data/{key}", data={"user": "u", "password": "p2"})
        third = await round_of(20)
        assert h.sent() == [metadata(key), data(key)]
        assert third[0].values["password"] == b"p2"
        assert third[0].version == "2"
        assert ("vault", "GetSecretMap", "success") in h.reported

        # value() and value_map() of one ref are kept apart.
        assert (await h.reader.value(h.store, ref, fresh_after=utc_now())).version == "2"
        assert h.sent() == [data(key)]

    run(openbao_audited, body)


def test_find_lists_once_for_concurrent_callers_and_again_when_stale(
    openbao_audited: AuditedOpenBao,
) -> None:
    top = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{top}/db-main", data={"p": "1"})
    admin.write(f"secret/data/{top}/cache", data={"p": "2"})

    async def body(h: Harness) -> None:
        fresh_after = utc_now()
        found = await asyncio.gather(
            *(h.reader.find(h.store, top, "db-", fresh_after=fresh_after) for _ in range(20))
        )
        assert {tuple(sorted(m.values)) for m in found} == {(f"{top}/db-main",)}
        assert h.sent() == [("list", f"secret/metadata/{top}/"), data(f"{top}/db-main")]
        assert h.reported == [("vault", "GetAllSecrets", "success")]

        assert await h.reader.find(h.store, top, "db-", fresh_after=PAST) is found[0]
        assert h.sent() == []
        other = await h.reader.find(h.store, top, "cache", fresh_after=PAST)  # another regexp
        assert list(other.values) == [f"{top}/cache"]
        h.sent()

        again = await h.reader.find(h.store, top, "db-", fresh_after=utc_now())
        assert h.sent() == [("list", f"secret/metadata/{top}/"), data(f"{top}/db-main")]
        assert again.version is None
        assert again.changed_at == found[0].changed_at

    run(openbao_audited, body)


def test_errors_are_shared_by_concurrent_callers_and_never_kept(
    openbao_audited: AuditedOpenBao,
) -> None:
    key = name()
    ref = RemoteRef(key, "password")

    async def body(h: Harness) -> None:
        fresh_after = utc_now()
        results = await asyncio.gather(
            *(h.reader.value(h.store, ref, fresh_after=fresh_after) for _ in range(10)),
            return_exceptions=True,
        )
        assert all(isinstance(r, RemoteKeyMissing) for r in results)
        assert h.sent() == [data(key)]
        with pytest.raises(RemoteKeyMissing):
            await h.reader.value(h.store, ref, fresh_after=PAST)
        assert h.sent() == [data(key)]  # asked again: an error is not an observation
        assert h.reported == [("vault", "GetSecret", "error")] * 2

        openbao_audited.admin.write(f"secret/data/{key}", data={"password": "now"})
        assert (await h.reader.value(h.store, ref, fresh_after=PAST)).value == b"now"

    run(openbao_audited, body)


def test_a_deleted_key_is_forgotten_and_forget_store_drops_everything(
    openbao_audited: AuditedOpenBao,
) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"password": "p1"})
    ref = RemoteRef(key, "password")

    async def body(h: Harness) -> None:
        await h.reader.value(h.store, ref, fresh_after=utc_now())
        admin.request("DELETE", f"secret/metadata/{key}")
        with pytest.raises(RemoteKeyMissing):
            await h.reader.value(h.store, ref, fresh_after=utc_now())
        # Written again, its versions restart at 1: a kept "1" must not be served.
        admin.write(f"secret/data/{key}", data={"password": "p-new"})
        h.sent()
        assert (await h.reader.value(h.store, ref, fresh_after=utc_now())).value == b"p-new"
        assert h.sent() == [data(key)]

        h.reader.forget_store(h.store.key)
        assert (await h.reader.value(h.store, ref, fresh_after=PAST)).value == b"p-new"
        assert h.sent() == [data(key)]  # a cold read again

    run(openbao_audited, body)


def test_budget_paces_the_reads(openbao_audited: AuditedOpenBao) -> None:
    """Distinct keys at a 2-call burst and 20 calls/s: six reads take at least 0.2 s."""
    keys = [name() for _ in range(6)]
    for key in keys:
        openbao_audited.admin.write(f"secret/data/{key}", data={"v": key})

    async def body(h: Harness) -> float:
        reader = RemoteReader(
            CallBudget(store_rate=20.0, store_burst=2, total_rate=0, total_burst=0)
        )
        loop = asyncio.get_running_loop()
        start = loop.time()
        fresh_after = utc_now()
        got = await asyncio.gather(
            *(reader.value(h.store, RemoteRef(k, "v"), fresh_after=fresh_after) for k in keys)
        )
        assert [o.value.decode() for o in got] == keys
        return loop.time() - start

    assert run(openbao_audited, body) >= 0.19


def test_a_caller_wanting_newer_than_a_read_in_flight_gets_its_own_read(
    openbao_audited: AuditedOpenBao,
) -> None:
    key = name()
    openbao_audited.admin.write(f"secret/data/{key}", data={"v": "1"})
    ref = RemoteRef(key, "v")

    async def body(h: Harness) -> None:
        budget = CallBudget(store_rate=20.0, store_burst=1, total_rate=0, total_burst=0)
        assert budget.bucket(h.store.key).try_acquire()  # the first read waits ~50 ms for a token
        now = [datetime(2026, 1, 1, tzinfo=UTC)]
        reader = RemoteReader(budget, clock=lambda: now[0])
        first = asyncio.create_task(reader.value(h.store, ref, fresh_after=PAST))
        await asyncio.sleep(0)  # the first read starts (and waits for its token)
        now[0] += timedelta(seconds=1)
        joined = asyncio.create_task(reader.value(h.store, ref, fresh_after=PAST))
        newer = asyncio.create_task(reader.value(h.store, ref, fresh_after=now[0]))
        early, shared, late = await asyncio.gather(first, joined, newer)
        assert shared is early
        assert late.checked_at > early.checked_at
        assert h.sent() == [data(key), metadata(key)]  # the later caller's own (version) read

    run(openbao_audited, body)


def test_every_property_and_the_map_of_one_key_share_one_version_check(
    openbao_audited: AuditedOpenBao,
) -> None:
    key = name()
    admin = openbao_audited.admin
    admin.write(f"secret/data/{key}", data={"user": "u", "password": "p1"})
    refs = [RemoteRef(key, "user"), RemoteRef(key, "password")]

    async def body(h: Harness) -> None:
        async def round_of() -> tuple[list[Observed], ObservedMap]:
            fresh_after = utc_now()
            values = await asyncio.gather(
                *(h.reader.value(h.store, ref, fresh_after=fresh_after) for ref in refs)
            )
            mapped = await h.reader.value_map(h.store, RemoteRef(key), fresh_after=fresh_after)
            return list(values), mapped

        await round_of()
        h.sent()
        values, mapped = await round_of()  # nothing changed: one metadata read for the key
        assert h.sent() == [metadata(key)]
        assert [o.value for o in values] == [b"u", b"p1"]
        assert dict(mapped.values) == {"user": b"u", "password": b"p1"}

        admin.write(f"secret/data/{key}", data={"user": "u", "password": "p2"})
        values, mapped = await round_of()  # one check, then each read that changed
        sent = h.sent()
        assert sent.count(metadata(key)) == 1
        assert [o.value for o in values] == [b"u", b"p2"]
        assert mapped.values["password"] == b"p2"

    run(openbao_audited, body)
