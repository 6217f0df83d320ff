"""How report text is shown: untrusted strings made harmless, field names made readable.

Every string a report shows may come from an untrusted manifest (object names, file names, key
names), so the terminal and HTML outputs pass them through :func:`clean` first: it replaces
control characters, which could otherwise move the cursor or rewrite a terminal's title, with a
visible ``\\xNN`` escape. :func:`humanize` turns the camelCase keys of ``AuditReport.sections``
into headings.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean", "humanize"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Words that read as acronyms in a heading: "apiCalls" -> "API calls", not "Api calls".
_ACRONYMS = {
    "api": "API",
    "crd": "CRD",
    "crds": "CRDs",
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "json": "JSON",
    "kms": "KMS",
    "rbac": "RBAC",
    "uid": "UID",
    "url": "URL",
}


def clean(text: object) -> str:
    """``str(text)`` with control and format characters shown as ``\\xNN`` / ``\\uNNNN``."""
    out: list[str] = []
    for char in str(text):
        if unicodedata.category(char) in ("Cc", "Cf") and char not in "\t":
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def humanize(key: str) -> str:
    """``"auditLog"`` -> ``"Audit log"``; ``"per_identity"`` -> ``"Per identity"``;
    ``"apiCalls"`` -> ``"API calls"``."""
    words = _CAMEL.sub(" ", key).replace("_", " ").replace("-", " ").split()
    if not words:
        return key
    text = " ".join(
        w if w.isupper() and len(w) > 1 else _ACRONYMS.get(w.lower(), w.lower()) for w in words
    )
    return text[:1].upper() + text[1:]
