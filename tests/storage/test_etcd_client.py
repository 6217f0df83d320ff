"""The etcd client against a real etcd (plain and TLS with client certs); config checks need none.

The ``etcd`` / ``etcd_tls`` fixtures (tests/integration/etcd_server.py) share one server per
session and give each test its own key prefix.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sealbox._proto import etcd_kv_pb2 as pb
from sealbox.errors import (
    BackendUnavailable,
    EtcdCompacted,
    EtcdRequestTooLarge,
    EtcdResponseTooLarge,
    InputError,
    SealboxError,
)
from sealbox.storage import (
    MAX_TXN_OPS,
    CasWrite,
    KeyRevision,
    KeyValue,
    KeyValueStore,
    TxnResult,
    plan_batches,
    prefix_end,
    registry_prefix,
)
from sealbox.storage.etcd import EtcdClient, EtcdConfig, parse_endpoints
from tests.integration.etcd_server import EtcdPrefix
from tests.integration.processes import free_port
from tests.integration.proxy import LoopbackProxy

integration = pytest.mark.integration
SENTINEL = b"sealbox-sentinel-\x00\xff-do-not-leak"


def _fill(client: EtcdClient, prefix: bytes, count: int) -> list[bytes]:
    """``count`` keys ``prefix + k00000..`` with small values, written 128 per txn."""
    keys = [prefix + f"k{i:05d}".encode() for i in range(count)]
    writes = [CasWrite(key, b"v-" + key[-6:], 0) for key in keys]
    for batch in plan_batches(writes):
        assert client.compare_and_swap(batch).succeeded
    return keys


def _spy_on_ranges(
    client: EtcdClient, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[pb.RangeRequest], list[pb.RangeResponse]]:
    """Record every Range request the client sends and every answer it gets."""
    requests: list[pb.RangeRequest] = []
    responses: list[pb.RangeResponse] = []
    original = client._transport.read

    def read(method: Any, request: Any, **kwargs: Any) -> Any:
        response = original(method, request, **kwargs)
        if isinstance(request, pb.RangeRequest):
            requests.append(request)
            responses.append(response)
        return response

    monkeypatch.setattr(client._transport, "read", read)
    return requests, responses


def _dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback port that accepts TCP connections (kernel backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


# -- no server needed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"/registry/", b"/registry0"),
        (b"a", b"b"),
        (b"a\xff", b"b"),
        (b"a\xfe\xff\xff", b"a\xff"),
        (b"\xff\xff", b"\x00"),
        (b"", b"\x00"),
    ],
)
def test_prefix_end(prefix: bytes, end: bytes) -> None:
    assert prefix_end(prefix) == end


def test_registry_prefix_and_endpoint_lists() -> None:
    assert registry_prefix() == b"/registry/"
    assert registry_prefix("registry/") == b"/registry/"
    assert registry_prefix("/custom/registry") == b"/custom/registry/"
    assert registry_prefix("/") == b"/"
    assert parse_endpoints(" a:2379, https://b:2379 ,") == ("a:2379", "https://b:2379")


def test_config_accepts_the_endpoint_forms() -> None:
    assert not EtcdConfig().tls
    assert not EtcdConfig(endpoints=("127.0.0.1:2379", "http://[::1]:2379")).tls
    assert EtcdConfig(endpoints=("https://etcd.example:2379",)).tls
    assert EtcdConfig(endpoints=("etcd-0:2379",), cacert=Path("ca.pem")).tls
    config = EtcdConfig(endpoints="https://a:1,https://b:2")  # type: ignore[arg-type]
    assert config.endpoints == ("https://a:1", "https://b:2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoints": ()}, "no etcd endpoints"),
        ({"endpoints": ("http://a:1", "https://b:2")}, "mix http:// and https://"),
        ({"endpoints": ("unix:///run/etcd.sock",)}, "scheme 'unix' is not supported"),
        ({"endpoints": ("http://a:1/v3",)}, "has a path"),
        ({"endpoints": ("a:notaport",)}, "not a valid address"),
        ({"endpoints": ("http://user:pw@a:1",)}, "credentials"),
        ({"endpoints": ("https://a:1",), "cert": Path("c.pem")}, "--cert and --key go together"),
        ({"endpoints": ("http://a:1",), "cacert": Path("ca.pem")}, "use https://"),
        ({"timeout_seconds": 0}, "timeout must be positive"),
    ],
)
def test_config_rejects_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        EtcdConfig(**kwargs)  # type: ignore[arg-type]


def test_unreadable_tls_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    config = EtcdConfig(endpoints=("https://127.0.0.1:1",), cacert=missing)
    with pytest.raises(InputError, match=r"--cacert .*nope\.pem: cannot read"):
        EtcdClient(config)


def test_txn_arguments_are_checked_before_any_call() -> None:
    # The endpoint is dead: an InputError proves nothing was sent.
    with EtcdClient(EtcdConfig(endpoints=(_dead_endpoint(),), timeout_seconds=1)) as client:
        too_many = [(f"/k{i}".encode(), b"v", 0) for i in range(MAX_TXN_OPS + 1)]
        with pytest.raises(InputError, match="129 writes in one etcd txn; at most 128"):
            client.compare_and_swap(too_many)
        with pytest.raises(InputError, match="'/a' appears twice"):
            client.compare_and_swap([(b"/a", b"1", 0), (b"/a", b"2", 0)])
        with pytest.raises(InputError, match="must be >= 0"):
            client.cas_put(b"/a", b"1", -1)
        with pytest.raises(InputError, match="non-empty bytes"):
            client.get(b"")
        with pytest.raises(InputError, match="page size"):
            client.iter_prefix(b"/a", page_size=0)


def test_plan_batches_respects_ops_and_bytes() -> None:
    writes = [CasWrite(f"/k{i:03d}".encode(), b"x" * 1000, 0) for i in range(300)]
    batches = list(plan_batches(writes))
    assert [len(batch) for batch in batches] == [128, 128, 44]
    assert [w for batch in batches for w in batch] == writes
    by_bytes = list(plan_batches(writes, max_bytes=10_000))
    assert all(len(batch) == 9 for batch in by_bytes[:-1])
    huge = [CasWrite(b"/big", b"x" * 5000, 0), CasWrite(b"/small", b"x", 0)]
    assert [len(b) for b in plan_batches(huge, max_bytes=1000)] == [1, 1]


def test_the_etcd_client_is_a_key_value_store() -> None:
    """The ops take a KeyValueStore: mypy checks this assignment against the protocol."""
    with EtcdClient(EtcdConfig(endpoints=(_dead_endpoint(),), timeout_seconds=1)) as client:
        store: KeyValueStore = client
        assert store.iter_prefix(b"/a", start_after=b"/a/b").revision is None  # nothing sent yet


def test_reprs_hide_values() -> None:
    kv = KeyValue(key=b"/k", mod_revision=3, create_revision=2, version=1, value=SENTINEL)
    write = CasWrite(b"/k", SENTINEL, 3)
    result = TxnResult(succeeded=False, revision=4, current={b"/k": kv}, conflicts=(b"/k",))
    for text in (repr(kv), repr(write), repr(result), str(kv)):
        assert "sentinel" not in text
        assert "/k" in text
    assert f"<{len(SENTINEL)} bytes>" in repr(kv)


# -- against a real etcd -------------------------------------------------------------------------


@integration
def test_binary_values_round_trip(etcd: EtcdPrefix) -> None:
    values = {
        etcd.key("all-bytes"): bytes(range(256)),
        etcd.key("one-mib"): os.urandom(1024 * 1024),
        etcd.key("empty"): b"",
        etcd.key(b"binary-key-\x00\x01\xfe\xff"): SENTINEL,
    }
    with EtcdClient(etcd.config()) as client:
        revisions = {key: client.put(key, value) for key, value in values.items()}
        for key, value in values.items():
            got = client.get(key)
            assert got is not None
            assert got.key == key
            assert got.value == value
            assert got.mod_revision == got.create_revision == revisions[key]
            assert got.version == 1
        assert client.get(etcd.key("missing")) is None
        assert client.delete(etcd.key("empty"))
        assert not client.delete(etcd.key("empty"))
        assert client.get(etcd.key("empty")) is None


@integration
def test_iter_prefix_pages_every_key_once_in_order(
    etcd: EtcdPrefix, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EtcdClient(etcd.config()) as client:
        keys = _fill(client, etcd.key("scan/"), 1234)
        client.put(etcd.key("scan0"), b"just past the prefix")  # prefix_end(.../scan/) sorts here
        client.put(etcd.key("scan."), b"just before the prefix")
        requests, _ = _spy_on_ranges(client, monkeypatch)
        scan = client.iter_prefix(etcd.key("scan/"), page_size=100)
        items = list(scan)
        assert [item.key for item in items] == keys
        assert all(item.value == b"v-" + item.key[-6:] for item in items)
        assert scan.pages == len(requests) == 13
        assert {request.limit for request in requests} == {100}
        assert scan.last_key == keys[-1]
        assert client.count_prefix(etcd.key("scan/")) == 1234


@integration
def test_start_after_and_keys_only(etcd: EtcdPrefix, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = etcd.key("scan/")
    with EtcdClient(etcd.config()) as client:
        keys = _fill(client, prefix, 250)
        after = [kv.key for kv in client.iter_prefix(prefix, page_size=100, start_after=keys[99])]
        assert after == keys[100:]
        between = keys[10] + b"-not-a-key"
        assert [kv.key for kv in client.iter_prefix(prefix, start_after=between)] == keys[11:]
        before_prefix = etcd.key("a")
        assert [kv.key for kv in client.iter_prefix(prefix, start_after=before_prefix)] == keys
        assert list(client.iter_prefix(prefix, start_after=keys[-1])) == []
        assert list(client.iter_prefix(prefix, start_after=prefix_end(prefix))) == []

        requests, responses = _spy_on_ranges(client, monkeypatch)
        only_keys = list(client.iter_keys(prefix, page_size=100))
        assert [item.key for item in only_keys] == keys
        assert all(type(item) is KeyRevision and item.mod_revision > 0 for item in only_keys)
        assert not any(hasattr(item, "value") for item in only_keys)
        assert len(responses) == 3
        assert all(request.keys_only for request in requests)
        assert all(kv.value == b"" for response in responses for kv in response.kvs)


@integration
def test_a_scan_sees_one_snapshot(etcd: EtcdPrefix) -> None:
    prefix = etcd.key("scan/")
    with EtcdClient(etcd.config()) as client:
        keys = _fill(client, prefix, 250)
        scan = client.iter_prefix(prefix, page_size=100)
        first = next(scan)
        assert first.key == keys[0]
        snapshot = scan.revision
        assert snapshot is not None
        # Meanwhile: a key is added (sorting last), one changed and one deleted on later pages.
        client.put(prefix + b"k99999", b"added")
        client.put(keys[200], b"changed")
        client.delete(keys[150])
        rest = list(scan)
        assert [kv.key for kv in rest] == keys[1:]
        assert {kv.key: kv.value for kv in rest}[keys[200]] == b"v-" + keys[200][-6:]
        assert scan.revision == snapshot
        assert client.count_prefix(prefix, revision=snapshot) == 250
        fresh = {kv.key: kv.value for kv in client.iter_prefix(prefix, page_size=100)}
        assert len(fresh) == client.count_prefix(prefix) == 250
        assert fresh[keys[200]] == b"changed"
        assert prefix + b"k99999" in fresh
        assert keys[150] not in fresh
        at_snapshot = list(client.iter_prefix(prefix, revision=snapshot))
        assert [kv.key for kv in at_snapshot] == keys


@integration
def test_compaction_mid_scan_is_reported_and_the_scan_resumes(etcd: EtcdPrefix) -> None:
    prefix = etcd.key("scan/")
    with EtcdClient(etcd.config()) as client:
        keys = _fill(client, prefix, 250)
        scan = client.iter_prefix(prefix, page_size=100)
        seen = [next(scan).key]
        revision = client.put(etcd.key("bump"), b"x")
        etcd.etcdctl("compact", str(revision))
        with pytest.raises(EtcdCompacted, match="compacted") as caught:
            seen.extend(kv.key for kv in scan)
        assert "resumes after its last key seen" in str(caught.value)
        # Pages already received (the first, and the prefetched second if it arrived before the
        # compaction) are still served; the scan stops at a page boundary.
        assert scan.last_key == seen[-1]
        assert seen[-1] in (keys[99], keys[199])
        seen += [kv.key for kv in client.iter_prefix(prefix, start_after=scan.last_key)]
        assert seen == keys


@integration
def test_large_values_shrink_pages_instead_of_failing(etcd: EtcdPrefix) -> None:
    prefix = etcd.key("big/")
    config = EtcdConfig(endpoints=(etcd.url,), max_response_bytes=1024 * 1024)
    with EtcdClient(config) as client:
        values = {prefix + f"{i}".encode(): os.urandom(300 * 1024) for i in range(5)}
        for key, value in values.items():
            client.put(key, value)
        scan = client.iter_prefix(prefix, page_size=100)
        assert {kv.key: kv.value for kv in scan} == values
        assert scan.pages >= 3
        too_big = etcd.key("too-big")
        client.put(too_big, SENTINEL * (1200 * 1024 // len(SENTINEL)))
        with pytest.raises(EtcdResponseTooLarge, match="too-big") as caught:
            client.get(too_big)
        assert "sentinel" not in str(caught.value)


@integration
def test_requests_larger_than_etcd_accepts_are_refused_clearly(etcd: EtcdPrefix) -> None:
    with EtcdClient(etcd.config()) as client:
        # Over --max-request-bytes (1.5 MiB), then over gRPC's own limit (that + 512 KiB).
        for size in (1600 * 1024, 2500 * 1024):
            with pytest.raises(EtcdRequestTooLarge, match="max-request-bytes") as caught:
                client.put(etcd.key("huge"), SENTINEL * (size // len(SENTINEL)))
            assert "/huge" in str(caught.value)
            assert "sentinel" not in str(caught.value)
        batch = [(etcd.key(f"b{i}"), os.urandom(600 * 1024), 0) for i in range(3)]
        with pytest.raises(EtcdRequestTooLarge, match="3 keys from"):
            client.compare_and_swap(batch)
        assert client.count_prefix(etcd.prefix) == 0
        assert client.put(etcd.key("fine"), b"still works") > 0


@integration
def test_compare_and_swap_single_key(etcd: EtcdPrefix) -> None:
    key = etcd.key("cas")
    with EtcdClient(etcd.config()) as client:
        created = client.cas_put(key, b"v1", 0)
        assert created.succeeded
        assert not client.cas_put(key, b"again", 0).succeeded  # 0 means "must not exist"
        current = client.get(key)
        assert current is not None
        assert current.value == b"v1"
        assert current.mod_revision == created.revision

        fresh = client.cas_put(key, b"v2", current.mod_revision)
        assert fresh.succeeded
        assert fresh.current == {}
        assert fresh.conflicts == ()
        stale = client.cas_put(key, b"v3", current.mod_revision)
        assert not stale.succeeded
        assert stale.conflicts == (key,)
        now = stale.current[key]
        assert now is not None
        assert now.value == b"v2"
        assert now.mod_revision == fresh.revision == stale.revision

        client.delete(key)
        gone = client.cas_put(key, b"v4", fresh.revision)
        assert not gone.succeeded
        assert gone.current == {key: None}
        assert gone.conflicts == (key,)


@integration
def test_compare_and_swap_batch_is_all_or_nothing(etcd: EtcdPrefix) -> None:
    with EtcdClient(etcd.config()) as client:
        keys = [etcd.key(f"batch/{i:03d}") for i in range(MAX_TXN_OPS)]
        created = client.compare_and_swap([(key, b"old", 0) for key in keys])
        assert created.succeeded
        revisions = {kv.key: kv.mod_revision for kv in client.iter_prefix(etcd.key("batch/"))}
        assert set(revisions.values()) == {created.revision}  # one txn, one revision

        client.put(keys[5], b"changed by someone else")
        batch = [(key, b"new", revisions[key]) for key in keys]
        failed = client.compare_and_swap(batch)
        assert not failed.succeeded
        assert failed.conflicts == (keys[5],)
        assert set(failed.current) == set(keys)
        changed = failed.current[keys[5]]
        assert changed is not None
        assert changed.value == b"changed by someone else"
        values = {kv.key: kv.value for kv in client.iter_prefix(etcd.key("batch/"))}
        assert values == {
            key: b"changed by someone else" if key == keys[5] else b"old" for key in keys
        }

        # The caller's fallback: retry the unchanged ones in one txn, re-read the changed one.
        retry = [item for item in batch if item[0] not in failed.conflicts]
        assert client.compare_and_swap(retry).succeeded
        assert client.cas_put(keys[5], b"new", changed.mod_revision).succeeded
        values = {kv.key: kv.value for kv in client.iter_prefix(etcd.key("batch/"))}
        assert set(values.values()) == {b"new"}

        with pytest.raises(InputError, match="at most 128"):
            client.compare_and_swap([(etcd.key(f"x{i}"), b"v", 0) for i in range(129)])
        assert client.count_prefix(etcd.key("x")) == 0


@integration
def test_etcdctl_reads_what_we_write_and_we_read_what_it_writes(etcd: EtcdPrefix) -> None:
    value = b"-\x00\xff\n" + bytes(range(256)) + b"\r\n\n"
    ours, theirs = etcd.key("ours"), etcd.key("theirs")
    with EtcdClient(etcd.config()) as client:
        client.put(ours, value)
        printed = etcd.etcdctl("get", "--print-value-only", "--", ours.decode()).stdout
        assert printed == value + b"\n"
        listed = json.loads(etcd.etcdctl("get", "-w", "json", "--", ours.decode()).stdout)
        (kv,) = listed["kvs"]
        assert base64.b64decode(kv["value"]) == value
        stored = client.get(ours)
        assert stored is not None
        assert kv["mod_revision"] == stored.mod_revision

        etcd.etcdctl("put", "--", theirs.decode(), stdin=value)
        got = client.get(theirs)
        assert got is not None
        assert got.value == value
        keys = etcd.etcdctl("get", "--prefix", "--keys-only", "--", etcd.prefix.decode()).stdout
        assert [k for k in keys.split(b"\n") if k] == [ours, theirs]


@integration
def test_tls_with_client_certificates(etcd_tls: EtcdPrefix) -> None:
    key = etcd_tls.key("tls")
    config = etcd_tls.config()
    assert config.tls
    assert config.endpoints[0].startswith("https://")
    with EtcdClient(config) as client:
        client.put(key, SENTINEL)
        got = client.get(key)
        assert got is not None
        assert got.value == SENTINEL
        assert client.cas_put(key, b"v2", got.mod_revision).succeeded
        assert [kv.key for kv in client.iter_prefix(etcd_tls.prefix)] == [key]
    printed = etcd_tls.etcdctl("get", "--print-value-only", "--", key.decode()).stdout
    assert printed == b"v2\n"


@integration
def test_tls_without_a_trusted_client_certificate_fails_clearly(etcd_tls: EtcdPrefix) -> None:
    tls = etcd_tls.server.tls
    assert tls is not None
    url = etcd_tls.url
    no_cert = etcd_tls.config(client_cert=False)
    rogue = EtcdConfig(endpoints=(url,), cacert=tls.ca, cert=tls.rogue_cert, key=tls.rogue_key)
    wrong_ca = EtcdConfig(
        endpoints=(url,), cacert=tls.rogue_cert, cert=tls.client_cert, key=tls.client_key
    )
    plain = EtcdConfig(endpoints=(url.replace("https://", "http://"),))
    for config, hint in [
        (no_cert, "requires a client certificate: give --cert and --key"),
        (rogue, "do --cacert/--cert/--key match"),
        (wrong_ca, "CERTIFICATE_VERIFY_FAILED"),
        (plain, "does it need https://"),
    ]:
        with EtcdClient(config) as client:
            for call in (
                lambda: client.get(etcd_tls.key("x")),
                lambda: client.put(etcd_tls.key("x"), b"v"),
            ):
                started = time.monotonic()
                with pytest.raises(BackendUnavailable) as caught:
                    call()
                assert time.monotonic() - started < config.timeout_seconds
                assert url.split("://")[1] in str(caught.value)
                assert hint in str(caught.value)
    assert (
        etcd_tls.etcdctl("get", "--prefix", "--keys-only", "--", etcd_tls.prefix.decode()).stdout
        == b""
    )


@integration
def test_unreachable_endpoints_are_named_within_the_timeout(blackhole: str) -> None:
    dead = _dead_endpoint()
    for endpoints, most in [((dead,), 0.9), ((blackhole,), 1.9), ((dead, blackhole), 1.9)]:
        config = EtcdConfig(endpoints=endpoints, timeout_seconds=1)
        with EtcdClient(config) as client:
            calls: list[tuple[str, Callable[[], object]]] = [
                ("Range", lambda: client.get(b"/registry/secrets/default/x")),
                ("Put", lambda: client.put(b"/registry/secrets/default/x", SENTINEL)),
                ("Range", lambda: list(client.iter_prefix(b"/registry/"))),
            ]
            for operation, call in calls:
                started = time.monotonic()
                with pytest.raises(BackendUnavailable) as caught:
                    call()
                assert time.monotonic() - started < most
                message = str(caught.value)
                assert f"etcd is unreachable for {operation}" in message
                assert all(endpoint in message for endpoint in endpoints)
                assert "sentinel" not in message


@integration
def test_failover_to_the_next_endpoint(etcd: EtcdPrefix, blackhole: str) -> None:
    key = etcd.key("failover")
    for first in (_dead_endpoint(), blackhole):
        config = EtcdConfig(endpoints=(first, etcd.url), timeout_seconds=1)
        with EtcdClient(config) as client:
            revision = client.put(key, b"v")
            got = client.get(key)
            assert got is not None
            assert got.mod_revision == revision
            assert client.cas_put(key, b"w", revision).succeeded
            assert [kv.value for kv in client.iter_prefix(etcd.prefix)] == [b"w"]
            # It sticks with the endpoint that answered: no more waiting on the dead one.
            started = time.monotonic()
            for _ in range(5):
                client.get(key)
            assert time.monotonic() - started < 0.9


@integration
def test_an_outage_mid_session_and_the_recovery(etcd: EtcdPrefix) -> None:
    key = etcd.key("outage")
    proxy = LoopbackProxy(etcd.server.client_port)
    proxy.start()
    try:
        with EtcdClient(EtcdConfig(endpoints=(proxy.url,), timeout_seconds=1)) as client:
            client.put(key, b"v1")
            proxy.stop()
            # The connection was confirmed, so the write went out and broke: never resent.
            with pytest.raises(BackendUnavailable, match="may or may not have been applied"):
                client.put(key, b"v2")
            with pytest.raises(BackendUnavailable, match="unreachable for Range"):
                client.get(key)
            # Not confirmed any more: the probe fails first, so nothing was sent.
            with pytest.raises(BackendUnavailable, match="unreachable for Txn"):
                client.cas_put(key, b"v3", 1)
            proxy.start()
            now = client.get(key)
            assert now is not None
            assert now.value == b"v1"
            assert client.cas_put(key, b"v4", now.mod_revision).succeeded
    finally:
        proxy.stop()


@integration
def test_no_value_bytes_in_reprs_or_errors(etcd: EtcdPrefix, blackhole: str) -> None:
    texts: list[str] = []
    key = etcd.key("leak")
    with EtcdClient(etcd.config()) as client:
        client.put(key, SENTINEL)
        got = client.get(key)
        assert got is not None
        texts += [repr(got), str(got), repr(client)]
        stale = client.compare_and_swap([(key, SENTINEL * 2, got.mod_revision + 1)])
        texts.append(repr(stale))
        scan = client.iter_prefix(etcd.prefix)
        texts += [repr(list(scan)), repr(scan)]
        wrong_type: Any = SENTINEL.decode("latin-1")
        bad_calls: list[Callable[[], object]] = [
            lambda: client.compare_and_swap([(key, SENTINEL, 0)] * 2),
            lambda: client.compare_and_swap([(key, SENTINEL, 0)] * 129),
            lambda: client.compare_and_swap([(key, wrong_type, 0)]),
        ]
        for bad in bad_calls:
            with pytest.raises(SealboxError) as caught:
                bad()
            texts.append(str(caught.value))
    with EtcdClient(EtcdConfig(endpoints=(blackhole,), timeout_seconds=0.5)) as client:
        with pytest.raises(BackendUnavailable) as unavailable:
            client.cas_put(key, SENTINEL, 1)
        texts.append(str(unavailable.value))
    joined = "\n".join(texts)
    assert "/leak" in joined
    for needle in (
        "sentinel",
        SENTINEL.hex(),
        base64.b64encode(SENTINEL).decode(),
        repr(SENTINEL)[2:-1],
    ):
        assert needle not in joined
