"""etcd behind the store protocol: a small gRPC v3 client for the offline tools.

:class:`EtcdClient` (a :class:`sealbox.storage.KeyValueStore`) reads keys a snapshot page at a time
(:class:`PrefixScan`) and writes them with compare-and-swap txns; :class:`EtcdConfig` says where
etcd is (``--endpoints``, ``--cacert --cert --key``, the timeout). The store's values
(``KeyValue``, ``CasWrite``, ``TxnResult`` ...) live in :mod:`sealbox.storage`, free of gRPC.
"""

from __future__ import annotations

from sealbox.storage.etcd._scan import DEFAULT_PAGE_SIZE, PrefixScan, ScanOptions
from sealbox.storage.etcd._transport import DEFAULT_PORT
from sealbox.storage.etcd.client import EtcdClient
from sealbox.storage.etcd.config import (
    DEFAULT_ENDPOINT,
    DEFAULT_MAX_RESPONSE_BYTES,
    EtcdConfig,
    parse_endpoints,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PORT",
    "EtcdClient",
    "EtcdConfig",
    "PrefixScan",
    "ScanOptions",
    "parse_endpoints",
]
