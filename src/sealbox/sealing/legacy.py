"""The legacy v1 ``spec.data`` format, read only.

Before ``encryptedData`` a SealedSecret held one blob: the whole Secret serialized as JSON,
sealed with the same hybrid format and scope labels. ``kubeseal`` no longer writes it, but the
upstream controller still reads it by default (``--accept-deprecated-v1-data``), so objects of
that age must keep working after a switch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import ObjectDecodeError
from sealbox.sealing.hybrid import unseal

__all__ = ["unseal_v1_data"]


def unseal_v1_data(
    private_keys: Sequence[rsa.RSAPrivateKey], blob: bytes, label: bytes
) -> dict[str, Any]:
    """The Secret (as its JSON object, ``data`` still base64) sealed in a ``spec.data`` blob.

    Raises the :class:`~sealbox.errors.UnsealError` family like :func:`unseal`, and
    :class:`ObjectDecodeError` when the opened bytes are not a JSON object (never quoting them).
    """
    plaintext = unseal(private_keys, blob, label)
    try:
        secret = json.loads(plaintext)
    except (UnicodeDecodeError, ValueError):
        raise ObjectDecodeError(
            "spec.data: the opened legacy value is not a Secret in JSON"
        ) from None
    if not isinstance(secret, dict):
        raise ObjectDecodeError("spec.data: the opened legacy value is not a JSON object")
    return secret
