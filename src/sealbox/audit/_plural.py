"""How a count reads in the audit's messages and reports: ``1 file``, ``2 files``, ``0 files``."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` and ``noun``, plural unless ``count`` is 1 (``plural_form`` if irregular)."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"
