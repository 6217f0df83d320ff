"""``sealbox seal --recipients CERT ...``: every value sealed once for several certificates.

Each value becomes one Sealbox envelope (:func:`sealbox.sealing.seal_envelope`): one session key
wrapped for each recipient, each named by its key id, so any of the clusters (or an offline
recovery key) opens it and the controller needs one RSA operation instead of a trial of every
key. The upstream controller cannot open an envelope; it is Sealbox's format.

The recipients are the ``--recipients`` certificates, plus ``--cert`` when it is given; the rest
of the SealedSecret (metadata, template, scope) is exactly what kubeseal writes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.cli.seal_certs import Controller, public_key
from sealbox.errors import SealError
from sealbox.sealing import (
    Scope,
    encode_value,
    label_for,
    scope_from_annotations,
    seal_envelope,
    seal_raw,
    seal_secret,
)

__all__ = ["recipient_keys", "seal_raw_to_recipients", "seal_to_recipients"]


def recipient_keys(
    cert: str | None, recipients: Sequence[str], controller: Controller
) -> list[rsa.RSAPublicKey]:
    """The public keys of ``--cert`` (if given) and each ``--recipients`` certificate."""
    keys = [public_key(cert, controller)] if cert is not None else []
    keys += [public_key(each, controller, "--recipients") for each in recipients]
    fingerprints = [key.public_numbers() for key in keys]
    if len(set(fingerprints)) != len(fingerprints):
        raise SealError("--recipients: the same certificate is given twice; name each once")
    return keys


def seal_to_recipients(
    secret: Any,
    *,
    keys: Sequence[rsa.RSAPublicKey],
    scope: Scope | None,
    namespace: str | None,
    name: str | None,
    allow_empty_data: bool,
) -> dict[str, Any]:
    """:func:`sealbox.sealing.seal_secret` with every value an envelope for ``keys``."""
    sealed = seal_secret(
        secret,
        keys[0],
        scope=scope,
        namespace=namespace,
        name=name,
        allow_empty_data=allow_empty_data,
    )  # checks the manifest and builds the document; its values are replaced below
    assert isinstance(secret, Mapping)  # seal_secret refuses anything else
    items = _items(secret)
    meta = sealed["metadata"]
    effective = scope_from_annotations(meta.get("annotations"))
    label = label_for(effective, meta.get("namespace", ""), meta["name"])
    sealed["spec"]["encryptedData"] = {
        item: encode_value(seal_envelope(keys, items[item], label)) for item in sorted(items)
    }
    return sealed


def seal_raw_to_recipients(
    keys: Sequence[rsa.RSAPublicKey],
    value: bytes,
    scope: Scope,
    namespace: str | None,
    name: str | None,
) -> str:
    """``--raw --recipients``: one value as envelope text."""
    seal_raw(keys[0], b"", scope, namespace, name)  # the same checks of --namespace and --name
    label = label_for(scope, namespace or "", name or "")
    return encode_value(seal_envelope(keys, value, label))


def _items(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """The plaintext of each item, as kubeseal reads them: ``data`` base64-decoded (line breaks
    skipped, as Go's decoder does), ``stringData`` as written and winning a name both hold.
    Only called once :func:`seal_secret` accepted the manifest, so every value is well formed.
    """
    items = {
        key: base64.b64decode("".join(text.split()), validate=True)
        for key, text in (secret.get("data") or {}).items()
    }
    items.update({key: text.encode() for key, text in (secret.get("stringData") or {}).items()})
    return items
