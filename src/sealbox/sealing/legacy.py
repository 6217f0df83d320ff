"""The legacy v1 ``spec.data`` format, read only.

Before ``encryptedData`` a SealedSecret held one blob: the whole Secret serialized as JSON,
sealed with the same hybrid format and scope labels. ``kubeseal`` no longer writes it, but the
upstream controller still reads it by default (``--accept-deprecated-v1-data``), so objects of
that age must keep working after a switch.
"""

from __future__ import annotations

import json
from typing import Any

from sealbox.errors import ObjectDecodeError

__all__ = ["parse_v1_secret"]


def parse_v1_secret(plaintext: bytes) -> dict[str, Any]:
    """The Secret (as its JSON object, ``data`` still base64) in an opened ``spec.data`` blob.

    The blob opens like any value (same format and scope labels); this reads what it holds.
    Raises :class:`ObjectDecodeError` when the bytes are not a JSON object (never quoting them).
    """
    try:
        secret = json.loads(plaintext)
    except (UnicodeDecodeError, ValueError):
        raise ObjectDecodeError(
            "spec.data: the opened legacy value is not a Secret in JSON"
        ) from None
    if not isinstance(secret, dict):
        raise ObjectDecodeError("spec.data: the opened legacy value is not a JSON object")
    return secret
