"""The KMS plugin API, as kube-apiserver and a plugin both see it: messages, field rules, endpoints.

This face is pure (no gRPC, no backend SDK), so the encryption core can depend on it. The parts
that speak the API live in subpackages, each with its own face, loaded only by those who use
them:

* :mod:`sealbox.kms.client`: call any KMS plugin over gRPC, as the apiserver does;
* :mod:`sealbox.kms.plugin`: the Sealbox KMS v2 plugin (``sealbox kms serve``);
* :mod:`sealbox.kms.backends`: where the plugin keeps its KEKs (local, PKCS#11, Vault, AWS KMS).
"""

from __future__ import annotations

from sealbox.kms.endpoint import (
    MAX_SOCKET_PATH,
    check_socket_path,
    endpoint_url,
    grpc_target,
    socket_path,
    socket_target,
)
from sealbox.kms.fields import (
    MAX_ANNOTATIONS_BYTES,
    MAX_CIPHERTEXT_BYTES,
    MAX_KEY_ID_BYTES,
    InvalidField,
    key_id_hash,
    validate_annotations,
    validate_ciphertext,
    validate_key_id,
)
from sealbox.kms.messages import PluginStatus, Wrapped
from sealbox.kms.services import KMSConnector, KMSv1Service, KMSv2Service, PluginAddress

__all__ = [
    "MAX_ANNOTATIONS_BYTES",
    "MAX_CIPHERTEXT_BYTES",
    "MAX_KEY_ID_BYTES",
    "MAX_SOCKET_PATH",
    "InvalidField",
    "KMSConnector",
    "KMSv1Service",
    "KMSv2Service",
    "PluginAddress",
    "PluginStatus",
    "Wrapped",
    "check_socket_path",
    "endpoint_url",
    "grpc_target",
    "key_id_hash",
    "socket_path",
    "socket_target",
    "validate_annotations",
    "validate_ciphertext",
    "validate_key_id",
]
