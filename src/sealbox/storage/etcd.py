"""A small etcd v3 client for the offline tools: paged snapshot reads and compare-and-swap writes.

It reads and writes keys exactly as kube-apiserver stores them (raw bytes, binary-safe) over
etcd's gRPC KV API, with our own wire-compatible messages (``proto/sealbox/_proto/etcd_kv.proto``,
no service block: see :mod:`sealbox.storage._etcd_transport` for the calls, failover and error
translation, :mod:`~sealbox.storage._etcd_scan` for paging and
:mod:`~sealbox.storage._etcd_model` for the value types). It owns:

* :class:`EtcdConfig`: ``--endpoints`` (tried in order; ``http://``, ``https://`` or bare
  ``host:port``), ``--cacert --cert --key`` for TLS with client certificates, the timeout.
* :class:`EtcdClient`: ``get``, ``put``, ``delete``, ``count_prefix``, paged ``iter_prefix`` /
  ``iter_keys`` and ``compare_and_swap`` / ``cas_put``.

Paged reads. A scan asks for ``[start, prefix_end(prefix))`` ``page_size`` keys at a time (next
start = last key + ``\\x00``), so memory is bounded by two pages (one being read, the next in
flight) whatever the prefix holds. Pages are large by default because etcd walks its index over
the whole remaining range for every page it answers: 500-key pages read 100,000 Secrets about 2.5
times slower than 5,000-key ones. Pages shrink on their own when values are large (to half of
``max_response_bytes``). Every page after the first is read at the revision of the first one,
so a scan sees one consistent snapshot: keys written, changed or deleted meanwhile show as they
were. If etcd compacts that revision mid-scan (kube-apiserver compacts every 5 minutes), the scan
raises :class:`EtcdCompacted`; start again with ``start_after=scan.last_key`` (a new snapshot
from there on).

Compare-and-swap. One txn writes up to 128 keys (etcd's default ``--max-txn-ops``), each
guarded by its own ``mod_revision``; all are written or none::

    Txn
      compare   mod_revision(k1) == r1  AND ... AND  mod_revision(kN) == rN    (N <= 128)
      success   put(k1, v1) ... put(kN, vN)    -> succeeded; every key's new mod_revision is
                                                  the response's header revision
      failure   range(k1)   ... range(kN)      -> the current KeyValue (or none) of every key,
                                                  read atomically with the failed compares

A missing key has ``mod_revision`` 0 in etcd's compares, so an expected revision of 0 means
"create: the key must not exist". On failure :attr:`TxnResult.conflicts` names the keys that
changed; the caller retries the others and re-reads those.

Values are secrets: no repr, log or error message here contains value bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sealbox._proto import etcd_kv_pb2 as pb
from sealbox.errors import InputError
from sealbox.storage._etcd_model import (
    DEFAULT_TXN_BYTES,
    MAX_TXN_OPS,
    CasWrite,
    KeyRevision,
    KeyValue,
    TxnResult,
    key_revision,
    key_value,
    plan_batches,
    prefix_end,
    registry_prefix,
)
from sealbox.storage._etcd_scan import PrefixScan
from sealbox.storage._etcd_transport import (
    DELETE_RANGE,
    PUT,
    RANGE,
    TXN,
    Transport,
    credentials,
    of_key,
    of_keys,
    parse_endpoint,
    show_key,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TXN_BYTES",
    "MAX_TXN_OPS",
    "CasWrite",
    "EtcdClient",
    "EtcdConfig",
    "KeyRevision",
    "KeyValue",
    "PrefixScan",
    "TxnResult",
    "parse_endpoints",
    "plan_batches",
    "prefix_end",
    "registry_prefix",
]

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
DEFAULT_PAGE_SIZE = 5000
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def parse_endpoints(text: str) -> tuple[str, ...]:
    """Split a comma-separated ``--endpoints`` value (``a:2379,https://b:2379``)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    """Where etcd is and how to reach it; checked on construction (:class:`InputError`).

    TLS is used when an endpoint is ``https://``, or when endpoints are bare ``host:port`` and
    ``cacert`` or a client pair is given. ``cacert`` defaults to the system roots; ``cert`` and
    ``key`` (a client certificate, as control planes require) go together. Each call gets
    ``timeout_seconds`` per endpoint tried. Answers larger than ``max_response_bytes`` are
    refused (scans shrink their pages instead).
    """

    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    timeout_seconds: float = 5.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        endpoints = self.endpoints
        if isinstance(endpoints, str):
            endpoints = parse_endpoints(endpoints)
        object.__setattr__(self, "endpoints", tuple(endpoints))
        if not self.endpoints:
            raise InputError("no etcd endpoints given; e.g. --endpoints https://127.0.0.1:2379")
        schemes = {parse_endpoint(text).scheme for text in self.endpoints} - {""}
        if schemes == {"http", "https"}:
            raise InputError("etcd endpoints mix http:// and https://; use one scheme for all")
        if (self.cert is None) != (self.key is None):
            raise InputError("--cert and --key go together: give both (a client pair) or neither")
        if schemes == {"http"} and (self.cacert or self.cert):
            raise InputError(
                "--cacert/--cert/--key are given but the etcd endpoints are http://; "
                "use https:// endpoints for TLS"
            )
        if not self.timeout_seconds > 0:
            raise InputError(f"etcd timeout must be positive, not {self.timeout_seconds!r}")
        if self.max_response_bytes < 1024 * 1024:
            raise InputError("max_response_bytes must be at least 1 MiB")

    @property
    def tls(self) -> bool:
        schemes = {parse_endpoint(text).scheme for text in self.endpoints}
        return "https" in schemes or bool(self.cacert or self.cert)


class EtcdClient:
    """An etcd v3 KV client (see the module docs); use it as a context manager or ``close`` it.

    Nothing connects until the first call. Keys and values are raw bytes.
    """

    def __init__(self, config: EtcdConfig) -> None:
        self.config = config
        self._transport = Transport(
            [parse_endpoint(text) for text in config.endpoints],
            tls=credentials(config.cacert, config.cert, config.key) if config.tls else None,
            client_cert=config.cert is not None,
            timeout_seconds=config.timeout_seconds,
            max_response_bytes=config.max_response_bytes,
        )

    def __repr__(self) -> str:
        return f"EtcdClient(endpoints={self.config.endpoints!r}, tls={self.config.tls})"

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    # reads

    def get(self, key: bytes) -> KeyValue | None:
        """The key's value and revisions, or ``None`` if it does not exist."""
        _check_key(key)
        response = self._transport.read(RANGE, pb.RangeRequest(key=key), about=of_key(key))
        return key_value(response.kvs[0]) if response.kvs else None

    def count_prefix(self, prefix: bytes, *, revision: int | None = None) -> int:
        """How many keys start with ``prefix`` (now, or at ``revision``)."""
        request = pb.RangeRequest(
            key=prefix or b"\x00",
            range_end=prefix_end(prefix),
            count_only=True,
            revision=revision or 0,
        )
        return self._transport.read(RANGE, request, about=f" under {show_key(prefix)}").count

    def iter_prefix(
        self,
        prefix: bytes,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_after: bytes | None = None,
        revision: int | None = None,
    ) -> PrefixScan[KeyValue]:
        """Every key starting with ``prefix`` (after ``start_after``), with values, paged."""
        return PrefixScan(
            self._transport,
            prefix,
            page_size=page_size,
            start_after=start_after,
            revision=revision,
            keys_only=False,
            convert=key_value,
            max_response_bytes=self.config.max_response_bytes,
        )

    def iter_keys(
        self,
        prefix: bytes,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_after: bytes | None = None,
        revision: int | None = None,
    ) -> PrefixScan[KeyRevision]:
        """Like :meth:`iter_prefix` but keys and revisions only (etcd sends no values)."""
        return PrefixScan(
            self._transport,
            prefix,
            page_size=page_size,
            start_after=start_after,
            revision=revision,
            keys_only=True,
            convert=key_revision,
            max_response_bytes=self.config.max_response_bytes,
        )

    # writes

    def put(self, key: bytes, value: bytes) -> int:
        """Write ``value`` unconditionally; returns the new revision."""
        _check_key(key)
        response = self._transport.write(
            PUT, pb.PutRequest(key=key, value=value), about=of_key(key), probe_key=key
        )
        return response.header.revision

    def delete(self, key: bytes) -> bool:
        """Delete one key; ``False`` if it did not exist."""
        _check_key(key)
        response = self._transport.write(
            DELETE_RANGE, pb.DeleteRangeRequest(key=key), about=of_key(key), probe_key=key
        )
        return response.deleted > 0

    def cas_put(self, key: bytes, value: bytes, expected_mod_revision: int) -> TxnResult:
        """Put ``value`` only if ``key``'s mod_revision is still the expected one (0: absent)."""
        return self.compare_and_swap([CasWrite(key, value, expected_mod_revision)])

    def compare_and_swap(self, items: Sequence[CasWrite | tuple[bytes, bytes, int]]) -> TxnResult:
        """One txn: all puts if every key's mod_revision is as expected, else none.

        ``items`` are ``(key, value, expected_mod_revision)``; at most :data:`MAX_TXN_OPS`,
        each key once. See the module docs for the txn and :class:`TxnResult` for the answer.
        """
        writes = [item if isinstance(item, CasWrite) else CasWrite(*item) for item in items]
        _check_writes(writes)
        request = pb.TxnRequest(
            compare=[
                pb.Compare(
                    result=pb.Compare.EQUAL,
                    target=pb.Compare.MOD,
                    key=write.key,
                    mod_revision=write.expected_mod_revision,
                )
                for write in writes
            ],
            success=[
                pb.RequestOp(request_put=pb.PutRequest(key=write.key, value=write.value))
                for write in writes
            ],
            failure=[
                pb.RequestOp(request_range=pb.RangeRequest(key=write.key)) for write in writes
            ],
        )
        keys = [write.key for write in writes]
        response = self._transport.write(
            TXN, request, about=of_keys(keys), probe_key=keys[0] if keys else b"\x00"
        )
        if response.succeeded:
            return TxnResult(succeeded=True, revision=response.header.revision)
        current: dict[bytes, KeyValue | None] = {}
        for write, op in zip(writes, response.responses, strict=True):
            kvs = op.response_range.kvs
            current[write.key] = key_value(kvs[0]) if kvs else None
        conflicts = tuple(
            write.key
            for write in writes
            if _mod_revision(current[write.key]) != write.expected_mod_revision
        )
        return TxnResult(
            succeeded=False,
            revision=response.header.revision,
            current=current,
            conflicts=conflicts,
        )


def _mod_revision(kv: KeyValue | None) -> int:
    return kv.mod_revision if kv is not None else 0


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or not key:
        raise InputError(f"an etcd key must be non-empty bytes, not {type(key).__name__}")


def _check_writes(writes: Sequence[CasWrite]) -> None:
    if len(writes) > MAX_TXN_OPS:
        raise InputError(
            f"{len(writes)} writes in one etcd txn; at most {MAX_TXN_OPS} fit (etcd's default "
            "--max-txn-ops): split the batch (see plan_batches)"
        )
    seen: set[bytes] = set()
    for write in writes:
        _check_key(write.key)
        if not isinstance(write.value, bytes):
            raise InputError(
                f"the value for key {show_key(write.key)} must be bytes, "
                f"not {type(write.value).__name__}"
            )
        if write.expected_mod_revision < 0:
            raise InputError(
                f"expected mod_revision of key {show_key(write.key)} must be >= 0 "
                f"(0: the key must not exist), not {write.expected_mod_revision}"
            )
        if write.key in seen:
            raise InputError(f"key {show_key(write.key)} appears twice in one etcd txn")
        seen.add(write.key)
