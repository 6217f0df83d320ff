"""Retries through a real HTTP fault proxy in front of the real apiserver: what is safe to repeat
is repeated (after ``Retry-After`` when the server says so), what is not is answered at once."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from lightkube.config.kubeconfig import SingleConfig
from lightkube.resources.core_v1 import Secret

from sealbox.errors import KubeUnavailable
from sealbox.kube import RetryPolicy, apply, async_client, kube_errors, sync_client
from sealbox.kube.retry import repeatable, retry_after
from tests.integration.kube_apiserver import KubeApiserver
from tests.kube.fault_proxy import Fault, FaultProxy, running_fault_proxy
from tests.kube.support import config_via, secret

FAST = RetryPolicy(attempts=5, total_seconds=30, base_seconds=0.01, max_wait_seconds=0.05)


@pytest.fixture
def proxy(kube_apiserver: KubeApiserver) -> Iterator[FaultProxy]:
    with running_fault_proxy(kube_apiserver.url, kube_apiserver.ca_file) as running:
        yield running


@pytest.fixture
def via_proxy(kube_apiserver: KubeApiserver, proxy: FaultProxy, tmp_path: Path) -> SingleConfig:
    return config_via(kube_apiserver, proxy.url, tmp_path)


def test_429_with_retry_after_is_waited_out_then_read(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    proxy.inject(Fault(429, retry_after="1"), times=2)
    with sync_client(via_proxy, retry=FAST) as client, kube_errors():
        listed = list(client.list(Secret, namespace=kube_namespace))
    assert listed == []
    seen = proxy.seen("GET")
    assert [e.status for e in seen] == [429, 429, 200]
    gaps = [b.arrived - a.arrived for a, b in itertools.pairwise(seen)]
    assert all(gap >= 1.0 for gap in gaps), gaps  # the server's word, not the 10 ms backoff


def test_503_and_a_dropped_connection_are_retried_for_a_read(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    with sync_client(via_proxy, retry=FAST) as client, kube_errors():
        client.create(secret("read-me", kube_namespace))
        proxy.inject(Fault(503), times=2)
        proxy.inject(Fault(0))  # connection closed without an answer
        got = client.get(Secret, "read-me", namespace=kube_namespace)
    assert got.metadata is not None
    assert got.metadata.name == "read-me"
    assert [e.status for e in proxy.seen("GET")] == [503, 503, 0, 200]


def test_a_create_is_not_repeated_on_503(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    proxy.inject(Fault(503, method="POST"))
    with (
        sync_client(via_proxy, retry=FAST) as client,
        pytest.raises(KubeUnavailable) as caught,
        kube_errors(),
    ):
        client.create(secret("once", kube_namespace))
    assert caught.value.status == 503
    assert [e.status for e in proxy.seen("POST")] == [503]


def test_server_side_apply_and_a_versioned_put_are_repeated(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    with sync_client(via_proxy, retry=FAST) as client:
        proxy.inject(Fault(503, method="PATCH"))
        applied = apply(client, secret("ssa", kube_namespace, "a"), force=False)
        proxy.inject(Fault(500, method="PUT"))
        with kube_errors():
            client.replace(applied)  # carries the resourceVersion: a repeat cannot overwrite
    assert [e.status for e in proxy.seen("PATCH")] == [503, 201]
    assert [e.status for e in proxy.seen("PUT")] == [500, 200]


def test_a_put_without_resource_version_is_not_repeated(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    with sync_client(via_proxy, retry=FAST) as client:
        with kube_errors():
            client.create(secret("blind", kube_namespace))
        proxy.inject(Fault(503, method="PUT"))
        with pytest.raises(KubeUnavailable), kube_errors():
            client.replace(secret("blind", kube_namespace, "overwrite"))
    assert [e.status for e in proxy.seen("PUT")] == [503]


def test_attempts_are_bounded_then_unavailable(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    proxy.inject(Fault(503), times=10)
    policy = RetryPolicy(attempts=3, total_seconds=30, base_seconds=0.01)
    with (
        sync_client(via_proxy, retry=policy) as client,
        pytest.raises(KubeUnavailable) as caught,
        kube_errors(),
    ):
        client.get(Secret, "any", namespace=kube_namespace)
    assert len(proxy.seen("GET")) == 3
    assert (caught.value.status, caught.value.reason) == (503, "ServiceUnavailable")
    assert "gave up after 3 attempts" in str(caught.value)


def test_a_retry_after_beyond_the_time_left_gives_up_at_once(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    proxy.inject(Fault(429, retry_after="120"))
    with (
        sync_client(via_proxy, retry=FAST) as client,
        pytest.raises(KubeUnavailable, match="429 Too Many Requests"),
        kube_errors(),
    ):
        client.get(Secret, "any", namespace=kube_namespace)
    assert len(proxy.seen("GET")) == 1


def test_the_async_client_retries_too(
    via_proxy: SingleConfig, proxy: FaultProxy, kube_namespace: str
) -> None:
    proxy.inject(Fault(429, retry_after="0"))
    proxy.inject(Fault(0))

    async def names() -> list[str]:
        async with async_client(via_proxy, retry=FAST) as client:
            with kube_errors():
                return [
                    s.metadata.name
                    async for s in client.list(Secret, namespace=kube_namespace)
                    if s.metadata and s.metadata.name
                ]

    assert asyncio.run(names()) == []
    assert [e.status for e in proxy.seen("GET")] == [429, 0, 200]


@pytest.mark.parametrize(
    ("method", "headers", "body", "expected"),
    [
        ("GET", {}, b"", True),
        ("POST", {"content-type": "application/json"}, b"{}", False),
        ("PATCH", {"content-type": "application/apply-patch+yaml"}, b"{}", True),
        ("PATCH", {"content-type": "application/merge-patch+json"}, b"{}", False),
        ("PUT", {}, b'{"metadata": {"resourceVersion": "12"}}', True),
        ("PUT", {}, b'{"metadata": {"name": "x"}}', False),
        ("DELETE", {}, b"", False),
    ],
)
def test_what_is_repeatable(
    method: str, headers: dict[str, str], body: bytes, expected: bool
) -> None:
    request = httpx2.Request(method, "https://k/api/v1/x", headers=headers, content=body)
    assert repeatable(request) is expected


def test_retry_after_reads_seconds_and_dates() -> None:
    def answer(value: str) -> httpx2.Response:
        return httpx2.Response(429, headers={"Retry-After": value})

    assert retry_after(answer("3")) == 3.0
    assert retry_after(answer("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # in the past
    assert retry_after(answer("soon")) is None
    assert retry_after(httpx2.Response(503)) is None


def test_backoff_grows_with_jitter_and_stays_capped() -> None:
    policy = RetryPolicy(base_seconds=0.5, max_wait_seconds=3.0)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        waits = {policy.backoff(retry) for _ in range(20)}
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert len(waits) > 1  # jittered
