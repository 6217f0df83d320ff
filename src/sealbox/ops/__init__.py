"""Jobs over stored values, pure: no gRPC, no terminal; a store and transformers are passed in.

- :mod:`~sealbox.ops.decode`: one stored value -> who wrote it and the object inside (and back,
  checking the object belongs at its key).
- :mod:`~sealbox.ops.prefixes`: which key ranges a job walks: the resources named (checked, so a
  typo is an error), or those an EncryptionConfiguration covers.
- :mod:`~sealbox.ops.scan`: which provider and key protects every value under some prefixes.
- :mod:`~sealbox.ops.gate`: a scan's ``--fail-on`` gate, fail-safe (a scan of nothing fails).
- :mod:`~sealbox.ops.export`: decrypt what a store holds back into manifests (disaster recovery).
- :mod:`~sealbox.ops.rewrap`: re-encrypt stale values with compare-and-swap, never overwriting a
  concurrent write.

Each works over :class:`sealbox.storage.KeyValueReader` / :class:`~sealbox.storage.KeyValueStore`
(etcd in production, an in-memory store in tests) and a
:class:`sealbox.encryption.StorageTransformers`.
"""

from __future__ import annotations

from sealbox.ops.decode import DecodedValue, check_plaintext, decode_value, encode_value
from sealbox.ops.export import ExportedObject, ExportFailure, ExportResult, export_objects
from sealbox.ops.gate import MAX_LISTED_FAILURES, FailOn, Gate, GateFailure, Verdict
from sealbox.ops.prefixes import config_prefixes, scan_prefixes
from sealbox.ops.rewrap import (
    MAX_KEY_RETRIES,
    RewrapOptions,
    RewrapSummary,
    check_write_providers,
    rewrap,
)
from sealbox.ops.scan import ScannedObject, ScanSummary, describe_key, scan

__all__ = [
    "MAX_KEY_RETRIES",
    "MAX_LISTED_FAILURES",
    "DecodedValue",
    "ExportFailure",
    "ExportResult",
    "ExportedObject",
    "FailOn",
    "Gate",
    "GateFailure",
    "RewrapOptions",
    "RewrapSummary",
    "ScanSummary",
    "ScannedObject",
    "Verdict",
    "check_plaintext",
    "check_write_providers",
    "config_prefixes",
    "decode_value",
    "describe_key",
    "encode_value",
    "export_objects",
    "rewrap",
    "scan",
    "scan_prefixes",
]
