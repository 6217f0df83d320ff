"""Sealed Secrets wire format: seal and open values exactly as ``kubeseal`` and the upstream
controller do, so clusters switch to Sealbox without re-sealing.

Pure on purpose: bytes, keys and labels in, bytes out; no Kubernetes client, CLI or gRPC import,
so the CLI, the controller and the tests share one implementation of the format.

- :mod:`.hybrid`: one value, RSA-OAEP + AES-256-GCM, byte for byte.
- :mod:`.scope`: strict / namespace-wide / cluster-wide and their OAEP labels.
- :mod:`.encoding`: the base64 text in ``spec.encryptedData``.
- :mod:`.certificate`: the RSA key in a sealing certificate.
- :mod:`.legacy`: the old ``spec.data`` blob (read only).
- :mod:`.sealed_secret`: a whole SealedSecret from a Secret manifest, as kubeseal writes it.
"""

from __future__ import annotations

from sealbox.sealing.certificate import SealingCertificate, load_certificate
from sealbox.sealing.encoding import decode_value, encode_value
from sealbox.sealing.hybrid import seal, unseal
from sealbox.sealing.legacy import unseal_v1_data
from sealbox.sealing.scope import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
    label_for,
    scope_annotations,
    scope_from_annotations,
)
from sealbox.sealing.sealed_secret import seal_raw, seal_secret

__all__ = [
    "CLUSTER_WIDE_ANNOTATION",
    "NAMESPACE_WIDE_ANNOTATION",
    "Scope",
    "SealingCertificate",
    "decode_value",
    "encode_value",
    "label_for",
    "load_certificate",
    "scope_annotations",
    "scope_from_annotations",
    "seal",
    "seal_raw",
    "seal_secret",
    "unseal",
    "unseal_v1_data",
]
