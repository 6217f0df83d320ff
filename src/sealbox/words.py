"""How counts and booleans read in messages, summaries and tables, the same in every command."""

from __future__ import annotations

__all__ = ["plural", "yes_no"]


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 object``, ``2 objects``, ``0 objects`` (``plural_form`` for irregular nouns)."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def yes_no(value: bool | None) -> str:
    """How a table shows a boolean: ``yes``, ``no``, or ``-`` when it is not known."""
    return "-" if value is None else "yes" if value else "no"
