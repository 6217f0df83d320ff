"""Find the fake secret values planted in a corpus, so tests can assert none is ever printed."""

from __future__ import annotations

import base64
import re
from pathlib import Path

__all__ = ["marker_needles"]


def marker_needles(root: Path, marker: re.Pattern[str]) -> set[str]:
    """Every ``marker`` match under ``root``, also when only present base64-encoded (nested),
    plus the base64 form of each."""
    needles: set[str] = set()
    pending = [p.read_text() for p in root.rglob("*") if p.is_file()]
    for _ in range(3):
        decoded: list[str] = []
        for text in pending:
            needles.update(marker.findall(text))
            for token in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", text):
                try:
                    decoded.append(base64.b64decode(token, validate=True).decode())
                except ValueError:
                    continue
        pending = decoded
    return needles | {base64.b64encode(n.encode()).decode() for n in needles}
