"""``/v1/rotate``: a SealedSecret re-sealed to the newest key, with its scope kept.

The scope comes from the **outer** metadata, the one the controller unseals with. Before
v0.36.0 upstream took it from the template annotations, so a strict object whose template
claimed ``cluster-wide`` came back cluster-wide (a scope escalation, #1885/#1886). As upstream
does since, template metadata that differs from the outer metadata is overwritten by it (and the
caller logs a warning); template-only labels and annotations are lost, as there.

Where this differs from upstream, on purpose: upstream unseals the whole object and seals the
resulting Secret afresh, so rendered ``template.data`` turns into ``encryptedData`` and the outer
labels and annotations are dropped. Here each ``encryptedData`` value is re-sealed on its own,
in its own format (an upstream value stays an upstream value, a Sealbox envelope an envelope),
and the rest of the object is kept; only server-set metadata fields and ``status`` are removed.
An envelope that names a recipient this controller does not hold (another cluster, an offline
recovery key) is refused, naming the item: re-sealing it here would silently drop that
recipient; re-seal it with ``sealbox seal --recipients``. A legacy ``spec.data`` object becomes
``encryptedData`` items, as upstream turns it.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from typing import Any

from sealbox.errors import SealError
from sealbox.sealing import (
    SERVER_FIELDS,
    KeyRing,
    SealingKey,
    decode_value,
    encode_value,
    envelope_key_ids,
    is_envelope,
    label_for,
    scope_from_annotations,
    seal,
    seal_envelope,
    unseal_sealed_secret,
)

__all__ = ["reseal_sealed_secret"]

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SealError(f"{where}: must be an object")
    return dict(value)


def reseal_sealed_secret(
    obj: Mapping[str, Any], keyring: KeyRing, newest: SealingKey
) -> tuple[dict[str, Any], bool]:
    """``obj`` with every value re-sealed to ``newest``; True when the template metadata was
    replaced by the outer metadata (the caller warns).

    Raises:
        UnsealError: a value does not open with any key of ``keyring`` under the outer scope.
        SealError: the object is malformed, or an envelope names a recipient not held here.
    """
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = {
        k: v for k, v in _mapping(out.get("metadata"), "metadata").items() if k not in SERVER_FIELDS
    }
    out["metadata"] = meta
    spec = _mapping(out.get("spec"), "spec")
    out["spec"] = spec
    template = _mapping(spec.get("template"), "spec.template")
    replaced = _mapping(template.get("metadata"), "spec.template.metadata") != meta
    if replaced:
        template_meta = copy.deepcopy(meta)
        template_meta.pop("ownerReferences", None)
        annotations = dict(template_meta.get("annotations") or {})
        if annotations.pop(_LAST_APPLIED, None) is not None:
            template_meta["annotations"] = annotations
        template["metadata"] = template_meta
        spec["template"] = template
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace", ""))
    annotations = _mapping(meta.get("annotations"), "metadata.annotations")
    label = label_for(scope_from_annotations(annotations), namespace, name)
    if spec.get("data") is not None:
        secret = unseal_sealed_secret(out, keyring.open)
        spec.pop("data")
        spec["encryptedData"] = {
            item: encode_value(seal(newest.public_key, base64.b64decode(text), label))
            for item, text in sorted((secret.get("data") or {}).items())
        }
        return out, replaced
    encrypted = _mapping(spec.get("encryptedData"), "spec.encryptedData")
    resealed: dict[str, str] = {}
    for item, text in encrypted.items():
        if not isinstance(text, str):
            raise SealError(f"spec.encryptedData item {item!r}: must be a string")
        value = decode_value(text, item)
        if is_envelope(value):
            foreign = [key_id for key_id in envelope_key_ids(value) if key_id not in keyring]
            if foreign:
                raise SealError(
                    f"spec.encryptedData item {item!r}: sealed for {len(foreign)} recipient(s) "
                    "this controller does not hold; re-seal it with sealbox seal --recipients"
                )
            plaintext = keyring.open(value, label)
            resealed[item] = encode_value(seal_envelope([newest.public_key], plaintext, label))
        else:
            plaintext = keyring.open(value, label)
            resealed[item] = encode_value(seal(newest.public_key, plaintext, label))
    spec["encryptedData"] = resealed
    return out, replaced
