"""etcd's wire messages <-> the store's values: key-values read back, and the compare-and-swap txn.

The txn that :meth:`~sealbox.storage.etcd.EtcdClient.compare_and_swap` sends::

    Txn
      compare   mod_revision(k1) == r1  AND ... AND  mod_revision(kN) == rN    (N <= 128)
      success   put(k1, v1) ... put(kN, vN)    -> succeeded; every key's new mod_revision is
                                                  the response's header revision
      failure   range(k1)   ... range(kN)      -> the current KeyValue (or none) of every key,
                                                  read atomically with the failed compares

Writes are checked before they are sent (:class:`InputError`); no message shows a value.
"""

from __future__ import annotations

from collections.abc import Sequence

from sealbox._proto import etcd_kv_pb2 as pb
from sealbox.errors import InputError
from sealbox.storage.etcd._transport import show_key
from sealbox.storage.kv import MAX_TXN_OPS, CasWrite, KeyRevision, KeyValue, TxnResult

__all__ = ["cas_request", "check_key", "key_revision", "key_value", "txn_result"]


def key_value(kv: pb.KeyValue) -> KeyValue:
    # Field order: key, mod_revision, create_revision, version (KeyRevision's), then value.
    return KeyValue(kv.key, kv.mod_revision, kv.create_revision, kv.version, kv.value)


def key_revision(kv: pb.KeyValue) -> KeyRevision:
    return KeyRevision(kv.key, kv.mod_revision, kv.create_revision, kv.version)


def check_key(key: bytes) -> None:
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
        check_key(write.key)
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


def cas_request(writes: Sequence[CasWrite]) -> pb.TxnRequest:
    """The txn above for ``writes``, once they pass the checks (:class:`InputError`)."""
    _check_writes(writes)
    return pb.TxnRequest(
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
        failure=[pb.RequestOp(request_range=pb.RangeRequest(key=write.key)) for write in writes],
    )


def txn_result(writes: Sequence[CasWrite], response: pb.TxnResponse) -> TxnResult:
    """What the txn for ``writes`` did, read from etcd's answer."""
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
