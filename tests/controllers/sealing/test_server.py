"""The sealing endpoints over real HTTP on loopback, answering as upstream's server.go does."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
import yaml
from lightkube.resources.core_v1 import Secret
from prometheus_client import CollectorRegistry, generate_latest

from sealbox.controllers.sealing.keystore import KeyStore
from sealbox.controllers.sealing.server import SealingServer
from sealbox.errors import NoMatchingKey
from sealbox.kube import KubeTarget, async_client
from sealbox.sealing import (
    CLUSTER_WIDE_ANNOTATION,
    KeyRing,
    SealingKey,
    decode_value,
    encode_value,
    envelope_key_ids,
    is_envelope,
    seal,
    seal_envelope,
)
from tests.controllers.sealing.keys_support import upstream_key_secret
from tests.integration.kube_apiserver import KubeApiserver

Answer = tuple[int, dict[str, str], bytes]


def _http(
    port: int, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> Answer:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers=dict(headers or {}),
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), dict(response.headers), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers), bytes(exc.read())


async def _call(
    server: SealingServer,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    return await asyncio.to_thread(_http, server.port, path, body, headers)


def _serving(server: SealingServer, scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        await server.start()
        try:
            await scenario()
        finally:
            await server.stop()

    asyncio.run(main())


def _sealed(
    key: SealingKey,
    values: Mapping[str, bytes],
    *,
    namespace: str = "apps",
    name: str = "db",
    annotations: Mapping[str, str] | None = None,
    template_annotations: Mapping[str, str] | None = None,
    envelope_to: list[SealingKey] | None = None,
) -> dict[str, Any]:
    """A SealedSecret as kubeseal writes it: scope label from the outer annotations."""
    outer = dict(annotations or {})
    cluster_wide = outer.get(CLUSTER_WIDE_ANNOTATION) == "true"
    label = b"" if cluster_wide else f"{namespace}/{name}".encode()
    encrypted = {}
    for item, plaintext in values.items():
        if envelope_to is None:
            sealed = seal(key.public_key, plaintext, label)
        else:
            sealed = seal_envelope([k.public_key for k in envelope_to], plaintext, label)
        encrypted[item] = encode_value(sealed)
    template_meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if template_annotations:
        template_meta["annotations"] = dict(template_annotations)
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if outer:
        meta["annotations"] = outer
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": meta,
        "spec": {"encryptedData": encrypted, "template": {"metadata": template_meta}},
    }


def test_cert_pem_is_the_newest_key_secrets_tls_crt(
    kube_apiserver: KubeApiserver, kube_namespace: str, sealing_keys: list[SealingKey]
) -> None:
    ns = kube_namespace
    older, newer = sealing_keys[:2]

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        try:
            for name, key in (
                ("sealed-secrets-keynewer", newer),
                ("sealed-secrets-keyolder", older),
            ):
                await client.create(upstream_key_secret(name, key, namespace=ns))
            store = KeyStore(client, namespace=ns)
            await store.start(may_generate=False)
            secret = await client.get(Secret, "sealed-secrets-keynewer", namespace=ns)
            assert secret.data is not None
            tls_crt = base64.b64decode(secret.data["tls.crt"])
            server = SealingServer(store.keyring, host="127.0.0.1", port=0, newest=store.newest)
            await server.start()
            try:
                status, headers, body = await _call(server, "/v1/cert.pem")
                assert (status, headers["Content-Type"], body) == (
                    200,
                    "application/x-pem-file",
                    tls_crt,
                )
                assert (await _call(server, "/healthz"))[::2] == (200, b"ok\n")
            finally:
                await server.stop()
        finally:
            await client.close()

    asyncio.run(scenario())


def test_without_keys_cert_pem_is_500_and_unknown_paths_404() -> None:
    server = SealingServer(KeyRing(), host="127.0.0.1", port=0)

    async def scenario() -> None:
        assert (await _call(server, "/v1/cert.pem"))[::2] == (500, b"cannot get certificate\n")
        assert (await _call(server, "/v1/nothing"))[::2] == (404, b"404 page not found\n")

    _serving(server, scenario)


def test_verify_says_whether_every_value_opens(sealing_keys: list[SealingKey]) -> None:
    held, other = sealing_keys[0], sealing_keys[3]
    registry = CollectorRegistry()
    server = SealingServer(
        KeyRing([held, sealing_keys[1]]),
        host="127.0.0.1",
        port=0,
        registry=registry,
        rate_limit=0,
    )
    good = _sealed(held, {"password": b"s3cret", "user": b"admin"})
    envelope = _sealed(held, {"token": b"t"}, envelope_to=[other, held])
    half = copy.deepcopy(good)
    half["spec"]["encryptedData"]["user"] = _sealed(other, {"user": b"x"})["spec"]["encryptedData"][
        "user"
    ]
    moved = copy.deepcopy(good)
    moved["metadata"]["name"] = moved["spec"]["template"]["metadata"]["name"] = "other"

    async def scenario() -> None:
        assert (await _call(server, "/v1/verify", json.dumps(good).encode()))[0] == 200
        assert (await _call(server, "/v1/verify", yaml.safe_dump(good).encode()))[0] == 200
        assert (await _call(server, "/v1/verify", json.dumps(envelope).encode()))[0] == 200
        assert (await _call(server, "/v1/verify", json.dumps(half).encode()))[0] == 409
        assert (await _call(server, "/v1/verify", json.dumps(moved).encode()))[0] == 409
        two_docs = (yaml.safe_dump(good) + "---\n" + yaml.safe_dump(good)).encode()
        assert (await _call(server, "/v1/verify", two_docs))[0] == 500
        assert (await _call(server, "/v1/verify", b"{not: [yaml"))[0] == 500
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
        assert (await _call(server, "/v1/verify", json.dumps(config_map).encode()))[0] == 500
        assert (await _verify_with_short_body(server.port)).startswith(b"HTTP/1.1 400 ")

    _serving(server, scenario)
    metrics = generate_latest(registry).decode()
    series = "sealed_secrets_controller_http_request"
    verify = 'method="post",path="/v1/verify"'
    assert f'{series}s_total{{code="200",{verify}}} 3.0' in metrics
    assert f'{series}s_total{{code="409",{verify}}} 2.0' in metrics
    assert f'{series}s_total{{code="500",{verify}}} 3.0' in metrics
    assert f"{series}_duration_seconds_count{{{verify}}} 8.0" in metrics


async def _verify_with_short_body(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}")
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return answer


def test_verify_is_rate_limited_as_upstream(sealing_keys: list[SealingKey]) -> None:
    """GCRA 2/s burst 2 (throttled): three at once pass, the fourth is 429 with Retry-After;
    each X-Forwarded-For has its own budget; half a second frees one more. The clock is
    pinned, so the test does not depend on how fast requests go out."""
    now = [1000.0]
    server = SealingServer(
        KeyRing(sealing_keys[:1]), host="127.0.0.1", port=0, clock=lambda: now[0]
    )
    body = json.dumps(_sealed(sealing_keys[0], {"a": b"1"})).encode()
    alice = {"X-Forwarded-For": "10.0.0.1"}

    async def scenario() -> None:
        answers = [await _call(server, "/v1/verify", body, alice) for _ in range(3)]
        assert [a[0] for a in answers] == [200, 200, 200]
        assert [a[1]["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
        status, headers, text = await _call(server, "/v1/verify", body, alice)
        assert (status, text) == (429, b"limit exceeded\n")
        assert headers["Retry-After"] == "1"
        assert headers["X-RateLimit-Limit"] == "3"
        bob = {"X-Forwarded-For": "10.0.0.2"}
        assert (await _call(server, "/v1/verify", body, bob))[0] == 200
        assert (await _call(server, "/v1/rotate", body, alice))[0] == 200  # not limited
        now[0] += 0.5
        assert (await _call(server, "/v1/verify", body, alice))[0] == 200
        assert (await _call(server, "/v1/verify", body, alice))[0] == 429

    _serving(server, scenario)


def _open(key: SealingKey, text: str, label: bytes) -> bytes:
    return KeyRing([key]).open(decode_value(text), label)


def test_rotate_reseals_to_the_newest_key_with_the_outer_scope(
    sealing_keys: list[SealingKey], caplog: pytest.LogCaptureFixture
) -> None:
    old, newest, foreign = sealing_keys[0], sealing_keys[2], sealing_keys[3]
    server = SealingServer(KeyRing([old, newest]), host="127.0.0.1", port=0)
    # strict outer scope, but the template claims cluster-wide: the pre-0.36 escalation
    escalating = _sealed(
        old,
        {"password": b"s3cret"},
        template_annotations={CLUSTER_WIDE_ANNOTATION: "true"},
    )
    escalating["metadata"]["resourceVersion"] = "42"
    escalating["status"] = {"conditions": []}
    enveloped = _sealed(old, {"token": b"t0k"}, envelope_to=[old])
    shared = _sealed(old, {"token": b"t0k"}, envelope_to=[old, foreign])

    async def scenario() -> None:
        status, headers, body = await _call(
            server, "/v1/rotate", yaml.safe_dump(escalating).encode()
        )
        assert (status, headers["Content-Type"]) == (200, "application/json")
        out = json.loads(body)
        assert out["metadata"] == {"name": "db", "namespace": "apps"}
        assert out["spec"]["template"]["metadata"] == out["metadata"]
        assert "status" not in out
        value = out["spec"]["encryptedData"]["password"]
        assert _open(newest, value, b"apps/db") == b"s3cret"
        with pytest.raises(NoMatchingKey):
            _open(newest, value, b"")  # not cluster-wide: the escalation is defeated
        with pytest.raises(NoMatchingKey):
            _open(old, value, b"apps/db")

        status, _, body = await _call(server, "/v1/rotate", json.dumps(enveloped).encode())
        token = decode_value(json.loads(body)["spec"]["encryptedData"]["token"])
        assert status == 200
        assert is_envelope(token)
        assert envelope_key_ids(token) == (newest.fingerprint,)

        status, _, body = await _call(server, "/v1/rotate", json.dumps(shared).encode())
        assert status == 500
        assert b"'token'" in body
        assert b"recipient" in body
        assert (await _call(server, "/v1/rotate", b"garbage: ["))[0] == 500

    _serving(server, scenario)
    assert "template metadata differs" in caplog.text
