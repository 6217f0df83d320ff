"""How kube-apiserver lays objects out in etcd, and the store the offline jobs read and write.

- :mod:`sealbox.storage.keys`: an etcd key <-> (prefix, group, resource, namespace, name).
- :mod:`sealbox.storage.codec`: stored plaintext bytes <-> a Kubernetes manifest dict, and the
  byte-exact encoders used to seed etcd like an unencrypted cluster.
- :mod:`sealbox.storage.meta`: ObjectMeta in API form (used by the codec).
- :mod:`sealbox.storage.resources_table`: the storage prefixes and groups of built-in resources.
- :mod:`sealbox.storage.resource_names`: a resource as a person names it (``-r secrets``), checked
  against that table, with a suggestion for a likely slip (``secret``, ``ConfigMap``).
- :mod:`sealbox.storage.kv`: the key-value store protocol (:class:`KeyValueReader`,
  :class:`KeyValueStore`: snapshot reads, compare-and-swap on ``mod_revision``) and its values.
- :mod:`sealbox.storage.etcd` (a subpackage with its own face, the only one here that imports
  gRPC): the etcd client that implements that protocol. This face does not import it.
"""

from __future__ import annotations

from sealbox.storage.codec import (
    ENCRYPTED_PREFIX,
    NewObjectFields,
    decode_object,
    encode_configmap,
    encode_secret,
    unwrap_unknown,
    wrap_unknown,
)
from sealbox.storage.keys import (
    DEFAULT_PREFIX,
    KeyResolver,
    ObjectKey,
    normalize_prefix,
    object_key,
    parse_key,
    storage_prefix,
)
from sealbox.storage.kv import (
    DEFAULT_TXN_BYTES,
    MAX_TXN_OPS,
    CasWrite,
    KeyRevision,
    KeyValue,
    KeyValueReader,
    KeyValueStore,
    PrefixRead,
    TxnResult,
    plan_batches,
    prefix_end,
    registry_prefix,
)
from sealbox.storage.resource_names import builtin_groups, builtin_resources, resource_name

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_TXN_BYTES",
    "ENCRYPTED_PREFIX",
    "MAX_TXN_OPS",
    "CasWrite",
    "KeyResolver",
    "KeyRevision",
    "KeyValue",
    "KeyValueReader",
    "KeyValueStore",
    "NewObjectFields",
    "ObjectKey",
    "PrefixRead",
    "TxnResult",
    "builtin_groups",
    "builtin_resources",
    "decode_object",
    "encode_configmap",
    "encode_secret",
    "normalize_prefix",
    "object_key",
    "parse_key",
    "plan_batches",
    "prefix_end",
    "registry_prefix",
    "resource_name",
    "storage_prefix",
    "unwrap_unknown",
    "wrap_unknown",
]
