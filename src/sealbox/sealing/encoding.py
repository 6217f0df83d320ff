"""How a sealed value is written in ``spec.encryptedData``: standard base64 on one line.

Upstream decodes with Go's ``base64.StdEncoding``: alphabet ``+/``, ``=`` padding required, and
``\\r``/``\\n`` ignored (so values wrapped by hand still open). Anything else is refused here, with
the item named, before any key is tried.
"""

from __future__ import annotations

import base64
import binascii

from sealbox.errors import SealedValueNotBase64

__all__ = ["decode_value", "encode_value"]

_LINE_BREAKS = str.maketrans("", "", "\r\n")


def encode_value(sealed: bytes) -> str:
    """The ``encryptedData`` text for one sealed value."""
    return base64.b64encode(sealed).decode("ascii")


def decode_value(text: str, item: str = "") -> bytes:
    """The sealed bytes of one ``encryptedData`` item; :class:`SealedValueNotBase64` if the
    text is not standard base64 (the message names ``item``, never the text)."""
    try:
        return base64.b64decode(text.translate(_LINE_BREAKS), validate=True)
    except (binascii.Error, ValueError):
        where = f"encryptedData item {item!r}" if item else "sealed value"
        raise SealedValueNotBase64(f"{where}: not standard base64") from None
