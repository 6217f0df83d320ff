"""The key store against a real apiserver: upstream's Secrets load unchanged, keys it makes look
like upstream's, renewal only adds, and the ring follows Secrets changed by hand (no restart)."""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import re

import pytest
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from sealbox.controllers.sealing.keystore import KeyOrder, KeyStore
from sealbox.kube import KubeTarget, async_client
from sealbox.sealing import KeyRing, SealingKey, key_from_pem
from tests.controllers.sealing.keys_support import KEY_LABEL, upstream_key_secret, within
from tests.integration.kube_apiserver import KubeApiserver


def _client(kube_apiserver: KubeApiserver) -> AsyncClient:
    return async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))


def _store(client: AsyncClient, namespace: str, **options: object) -> KeyStore:
    return KeyStore(client, namespace=namespace, key_size=2048, **options)  # type: ignore[arg-type]


def test_upstream_secrets_load_unchanged_and_the_rest_is_left_out(
    kube_apiserver: KubeApiserver,
    kube_namespace: str,
    sealing_keys: list[SealingKey],
    caplog: pytest.LogCaptureFixture,
) -> None:
    active, legacy, compromised, _ = sealing_keys
    ns = kube_namespace

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            await client.create(
                upstream_key_secret("sealed-secrets-key5rxd9", active, namespace=ns)
            )
            await client.create(
                upstream_key_secret("sealed-secrets-key", legacy, namespace=ns, label=None)
            )
            await client.create(
                upstream_key_secret(
                    "sealed-secrets-keyold", compromised, namespace=ns, label="compromised"
                )
            )
            await client.create(
                upstream_key_secret(
                    "sealed-secrets-keybad",
                    active,
                    namespace=ns,
                    data={"tls.crt": active.certificate_pem(), "tls.key": b"not a key at all"},
                )
            )
            store = _store(client, ns)
            with caplog.at_level(logging.WARNING):
                await store.start(may_generate=True)
            assert {k.fingerprint for k in store.keyring.keys} == {
                active.fingerprint,
                legacy.fingerprint,
            }
            assert store.generated == 0  # the newest is within the period: nothing to make
            assert set(store.skipped) == {"sealed-secrets-keybad"}
            assert "sealed-secrets-keybad" in caplog.text
            assert "not a key at all" not in caplog.text
            assert store.newest().fingerprint == legacy.fingerprint  # later NotBefore wins
        finally:
            await client.close()

    asyncio.run(scenario())


def test_a_key_is_generated_as_upstream_writes_it_only_when_allowed(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            standby = _store(client, ns)
            await standby.start(may_generate=False)
            assert len(standby.keyring) == 0

            leader = _store(client, ns, labels={"team": "platform"}, annotations={"a.b/c": "d"})
            await leader.start(may_generate=True)
            (key,) = leader.keyring.keys
            secrets = [s async for s in client.list(Secret, namespace=ns)]
            (secret,) = [s for s in secrets if s.type == "kubernetes.io/tls"]
            assert secret.metadata is not None
            assert secret.data is not None
            assert re.fullmatch(r"sealed-secrets-key[a-z0-9]{5}", str(secret.metadata.name))
            assert secret.metadata.labels == {KEY_LABEL: "active", "team": "platform"}
            assert secret.metadata.annotations == {"a.b/c": "d"}
            tls_key = base64.b64decode(secret.data["tls.key"])
            assert tls_key.startswith(b"-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, as upstream
            loaded = key_from_pem(tls_key, base64.b64decode(secret.data["tls.crt"]), source="t")
            assert loaded.fingerprint == key.fingerprint
            assert loaded.key_size == 2048
        finally:
            await client.close()

    asyncio.run(scenario())


def test_cutoff_replaces_an_old_newest_key_and_keeps_it(
    kube_apiserver: KubeApiserver, kube_namespace: str, sealing_keys: list[SealingKey]
) -> None:
    ns = kube_namespace
    old = sealing_keys[0]  # NotBefore an hour ago

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            await client.create(upstream_key_secret("sealed-secrets-keyaaaaa", old, namespace=ns))
            now = datetime.datetime.now(datetime.UTC)
            kept = _store(client, ns, cutoff=now - datetime.timedelta(days=1))
            await kept.start(may_generate=True)
            assert kept.generated == 0
            renewed = _store(client, ns, cutoff=now)
            await renewed.start(may_generate=True)
            assert renewed.generated == 1
            assert len(renewed.keyring) == 2
            assert old.fingerprint in renewed.keyring
            assert renewed.newest().fingerprint != old.fingerprint
        finally:
            await client.close()

    asyncio.run(scenario())


def test_renewal_schedule_counts_from_the_newest_not_before(sealing_keys: list[SealingKey]) -> None:
    newest = sealing_keys[-1]
    ten_days = newest.not_before + datetime.timedelta(days=10)
    store = KeyStore(
        None,  # type: ignore[arg-type]  # never called: only the schedule is asked
        namespace="x",
        keyring=KeyRing(sealing_keys),
        clock=lambda: ten_days,
    )
    assert store.next_renewal_in() == datetime.timedelta(days=20).total_seconds()
    assert KeyStore(None, namespace="x", renew_period=None).next_renewal_in() == float("inf")  # type: ignore[arg-type]
    assert KeyStore(None, namespace="x").next_renewal_in() == 0.0  # type: ignore[arg-type]


def test_newest_by_secret_creation_timestamp(
    kube_apiserver: KubeApiserver, kube_namespace: str, sealing_keys: list[SealingKey]
) -> None:
    ns = kube_namespace
    later_cert, earlier_cert = sealing_keys[3], sealing_keys[2]

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            await client.create(
                upstream_key_secret("sealed-secrets-keyfirst", later_cert, namespace=ns)
            )
            store = _store(client, ns, key_order=KeyOrder.SECRET_CREATION_TIMESTAMP)
            await store.start(may_generate=False)
            # creationTimestamp has one-second resolution: create the second one a second later
            first = store.stored[0].created
            assert first is not None
            await within(_until_after(first))
            await client.create(
                upstream_key_secret("sealed-secrets-keysecond", earlier_cert, namespace=ns)
            )
            await store.start(may_generate=False)
            assert store.keyring.newest.fingerprint == later_cert.fingerprint
            assert store.newest().fingerprint == earlier_cert.fingerprint
        finally:
            await client.close()

    asyncio.run(scenario())


async def _until_after(moment: datetime.datetime) -> None:
    # Waiting on the wall clock is the event here: the apiserver stamps seconds.
    while datetime.datetime.now(datetime.UTC) < moment + datetime.timedelta(seconds=1):
        await asyncio.sleep(0.05)


def test_short_renewal_period_adds_keys_and_keeps_the_old_ones(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    ns = kube_namespace

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            store = _store(client, ns, renew_period=datetime.timedelta(seconds=1))
            await store.start(may_generate=True)
            first = store.keyring.newest
            renewing = asyncio.create_task(store.renew_forever())
            try:
                await within(store.wait_until(lambda s: len(s.keyring) >= 3))
            finally:
                renewing.cancel()
                await asyncio.gather(renewing, return_exceptions=True)
            assert first.fingerprint in store.keyring
            assert store.newest().fingerprint != first.fingerprint
            # every key is in its own Secret, which a fresh store (a restart) loads again
            again = _store(client, ns, renew_period=None)
            await again.start(may_generate=True)
            assert {k.fingerprint for k in again.keyring.keys} >= {
                k.fingerprint for k in store.keyring.keys
            }
            assert again.generated == 0
        finally:
            await client.close()

    asyncio.run(scenario())


def test_the_ring_follows_key_secrets_changed_by_hand(
    kube_apiserver: KubeApiserver, kube_namespace: str, sealing_keys: list[SealingKey]
) -> None:
    ns = kube_namespace
    first, added, legacy, _ = sealing_keys

    async def scenario() -> None:
        client = _client(kube_apiserver)
        try:
            await client.create(upstream_key_secret("sealed-secrets-keyfirst", first, namespace=ns))
            store = _store(client, ns)
            await store.start(may_generate=False)
            watching = asyncio.create_task(store.watch())
            try:
                await client.create(
                    upstream_key_secret("sealed-secrets-keyadded", added, namespace=ns)
                )
                await within(store.wait_until(lambda s: added.fingerprint in s.keyring))

                relabel = {"metadata": {"labels": {KEY_LABEL: "compromised"}}}
                await client.patch(
                    Secret,
                    "sealed-secrets-keyadded",
                    relabel,
                    namespace=ns,
                    patch_type=PatchType.MERGE,
                )
                await within(store.wait_until(lambda s: added.fingerprint not in s.keyring))

                back = {"metadata": {"labels": {KEY_LABEL: "active"}}}
                await client.patch(
                    Secret,
                    "sealed-secrets-keyadded",
                    back,
                    namespace=ns,
                    patch_type=PatchType.MERGE,
                )
                await within(store.wait_until(lambda s: added.fingerprint in s.keyring))

                await client.delete(Secret, "sealed-secrets-keyadded", namespace=ns)
                await within(store.wait_until(lambda s: added.fingerprint not in s.keyring))

                await client.create(
                    upstream_key_secret("sealed-secrets-key", legacy, namespace=ns, label=None)
                )
                await within(store.wait_until(lambda s: legacy.fingerprint in s.keyring))
                await client.delete(Secret, "sealed-secrets-key", namespace=ns)
                await within(store.wait_until(lambda s: legacy.fingerprint not in s.keyring))

                bad = upstream_key_secret(
                    "sealed-secrets-keybroken",
                    first,
                    namespace=ns,
                    data={"tls.crt": b"garbage", "tls.key": b"garbage"},
                )
                await client.create(bad)
                await within(store.wait_until(lambda s: "sealed-secrets-keybroken" in s.skipped))
                assert not watching.done()  # an invalid key never stops the watch
                assert {k.fingerprint for k in store.keyring.keys} == {first.fingerprint}
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
        finally:
            await client.close()

    asyncio.run(scenario())
