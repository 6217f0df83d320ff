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
- :mod:`.template`: ``spec.template.data`` rendered with a Go text/template + Sprig subset.
- :mod:`.unsealed_secret`: a SealedSecret back into its Secret, as the upstream controller does.
- :mod:`.keys`: a sealing key pair as the upstream controller generates and stores it.
- :mod:`.keyring`: the keys a controller holds; which one opens a value, and at what cost.
- :mod:`.envelope`: the Sealbox envelope: several recipients, each named by its key id.
- :mod:`.private_keys`: recovery keys in every form users keep them.
- :mod:`.object_meta`: ObjectMeta's fields, and the server-set ones kubeseal clears.
- :mod:`.inventory`: which key sealed each value, so old keys can be retired.
"""

from __future__ import annotations

from sealbox.sealing.certificate import SealingCertificate, load_certificate
from sealbox.sealing.encoding import decode_value, encode_value
from sealbox.sealing.envelope import (
    envelope_key_ids,
    is_envelope,
    open_envelope,
    seal_envelope,
)
from sealbox.sealing.hybrid import seal, unseal
from sealbox.sealing.inventory import ValueRecord, inventory, summary
from sealbox.sealing.keyring import KeyRing, KeySet
from sealbox.sealing.keys import (
    DEFAULT_KEY_SIZE,
    DEFAULT_KEY_VALIDITY,
    SealingKey,
    generate_key,
    key_from_pem,
    public_key_fingerprint,
)
from sealbox.sealing.legacy import parse_v1_secret
from sealbox.sealing.object_meta import KUBESEAL_CLEARED, OBJECT_META_FIELDS, SERVER_FIELDS
from sealbox.sealing.private_keys import read_private_keys
from sealbox.sealing.scope import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
    label_for,
    scope_annotations,
    scope_from_annotations,
)
from sealbox.sealing.sealed_secret import seal_raw, seal_secret
from sealbox.sealing.template import TemplateError, render_template
from sealbox.sealing.unsealed_secret import OpenValue, unseal_sealed_secret

__all__ = [
    "CLUSTER_WIDE_ANNOTATION",
    "DEFAULT_KEY_SIZE",
    "DEFAULT_KEY_VALIDITY",
    "KUBESEAL_CLEARED",
    "NAMESPACE_WIDE_ANNOTATION",
    "OBJECT_META_FIELDS",
    "SERVER_FIELDS",
    "KeyRing",
    "KeySet",
    "OpenValue",
    "Scope",
    "SealingCertificate",
    "SealingKey",
    "TemplateError",
    "ValueRecord",
    "decode_value",
    "encode_value",
    "envelope_key_ids",
    "generate_key",
    "inventory",
    "is_envelope",
    "key_from_pem",
    "label_for",
    "load_certificate",
    "open_envelope",
    "parse_v1_secret",
    "public_key_fingerprint",
    "read_private_keys",
    "render_template",
    "scope_annotations",
    "scope_from_annotations",
    "seal",
    "seal_envelope",
    "seal_raw",
    "seal_secret",
    "summary",
    "unseal",
    "unseal_sealed_secret",
]
