"""Jobs over stored values, pure: no gRPC, no terminal; a store and transformers are passed in.

- :mod:`~sealbox.ops.decode`: one stored value -> who wrote it and the object inside (and back).
- :mod:`~sealbox.ops.scan`: which provider and key protects every value under some prefixes.
- :mod:`~sealbox.ops.export`: decrypt what a store holds back into manifests (disaster recovery).
- :mod:`~sealbox.ops.rewrap`: re-encrypt stale values with compare-and-swap, never overwriting a
  concurrent write.

Each works over :class:`sealbox.storage.KeyValueReader` / :class:`~sealbox.storage.KeyValueStore`
(etcd in production, an in-memory store in tests) and a
:class:`sealbox.encryption.StorageTransformers`.
"""

from __future__ import annotations

from sealbox.ops.decode import DecodedValue, decode_value, encode_value
from sealbox.ops.export import ExportedObject, ExportFailure, ExportResult, export_objects
from sealbox.ops.rewrap import (
    MAX_KEY_RETRIES,
    RewrapOptions,
    RewrapSummary,
    check_write_providers,
    rewrap,
)
from sealbox.ops.scan import ScannedObject, ScanSummary, describe_key, scan, scan_prefixes

__all__ = [
    "MAX_KEY_RETRIES",
    "DecodedValue",
    "ExportFailure",
    "ExportResult",
    "ExportedObject",
    "RewrapOptions",
    "RewrapSummary",
    "ScanSummary",
    "ScannedObject",
    "check_write_providers",
    "decode_value",
    "describe_key",
    "encode_value",
    "export_objects",
    "rewrap",
    "scan",
    "scan_prefixes",
]
