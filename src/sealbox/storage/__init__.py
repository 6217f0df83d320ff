"""How kube-apiserver lays objects out in etcd: key paths and the serialized (plaintext) values.

- :mod:`sealbox.storage.keys`: an etcd key <-> (prefix, group, resource, namespace, name).
- :mod:`sealbox.storage.codec`: stored plaintext bytes <-> a Kubernetes manifest dict, and the
  byte-exact encoders used to seed etcd like an unencrypted cluster.
- :mod:`sealbox.storage.meta`: ObjectMeta in API form (used by the codec).
- :mod:`sealbox.storage.resources_table`: the storage prefixes and groups of built-in resources.
"""

from __future__ import annotations

from sealbox.storage.codec import (
    ENCRYPTED_PREFIX,
    decode_object,
    encode_configmap,
    encode_secret,
    unwrap_unknown,
    wrap_unknown,
)
from sealbox.storage.keys import ObjectKey, object_key, parse_key

__all__ = [
    "ENCRYPTED_PREFIX",
    "ObjectKey",
    "decode_object",
    "encode_configmap",
    "encode_secret",
    "object_key",
    "parse_key",
    "unwrap_unknown",
    "wrap_unknown",
]
