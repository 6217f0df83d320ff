"""Helpers the report formats share: severity order, safe text, JSON values and section tables.

Every string a report shows may come from an untrusted manifest (object names, file names, key
names), so the terminal and HTML outputs pass them through :func:`clean` first: it replaces
control characters, which could otherwise move the cursor or rewrite a terminal's title, with a
visible ``\\xNN`` escape. :func:`section_tables` turns the free-form ``AuditReport.sections``
(nested dicts and lists of dicts) into plain tables of strings that both the rich table and the
HTML page render the same way.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sealbox.audit.model import AuditReport, Severity

__all__ = [
    "SEVERITIES",
    "SectionTable",
    "clean",
    "humanize",
    "jsonable",
    "section_tables",
    "summary_counts",
]

SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, reverse=True))
"""Most severe first: the order every output lists severities in."""


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


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def humanize(key: str) -> str:
    """``"auditLog"`` -> ``"Audit log"``; ``"per_identity"`` -> ``"Per identity"``."""
    words = _CAMEL.sub(" ", key).replace("_", " ").replace("-", " ").split()
    if not words:
        return key
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[:1].upper() + text[1:]


def jsonable(value: Any) -> Any:
    """A copy of ``value`` made only of dicts with str keys, lists, str, int, float, bool, None.

    Enums become their label (``Severity.HIGH`` -> ``"high"``), sets become sorted lists and any
    other object its ``str()``: a report never fails to serialise because a check put an unusual
    value into ``details``.
    """
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [jsonable(v) for v in value]
    return str(value)


def summary_counts(report: AuditReport) -> dict[str, int]:
    """Findings per severity label, most severe first (every severity present, maybe 0)."""
    counts = report.counts()
    return {severity.label: counts[severity] for severity in SEVERITIES}


@dataclass(frozen=True, slots=True)
class SectionTable:
    """One table of strings: a title, column headings and rows (each as long as ``columns``)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def section_tables(name: str, value: Any) -> list[SectionTable]:
    """Flatten one ``report.sections`` entry into tables.

    A list of mappings becomes one table (columns: the union of their keys, in first-seen order);
    a mapping's scalar entries become a two-column key/value table and each of its list or
    mapping entries a table of its own, titled ``"Section / key"``; a bare scalar or a list of
    scalars becomes a one-column table. Cells that still hold lists or mappings are shown as
    compact JSON.
    """
    tables: list[SectionTable] = []
    _collect(humanize(name), jsonable(value), tables)
    return tables


def _collect(title: str, value: Any, out: list[SectionTable]) -> None:
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            out.append(_records(title, value))
        else:
            out.append(SectionTable(title, ("Value",), tuple((_cell(v),) for v in value)))
        return
    if not isinstance(value, dict):
        out.append(SectionTable(title, ("Value",), ((_cell(value),),)))
        return
    nested = {k: v for k, v in value.items() if _is_nested(v)}
    flat = [(humanize(k), _cell(v)) for k, v in value.items() if k not in nested]
    if flat or not nested:
        out.append(SectionTable(title, ("Field", "Value"), tuple(flat)))
    for key, item in nested.items():
        _collect(f"{title} / {humanize(key)}", item, out)


def _is_nested(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    return isinstance(value, list) and any(isinstance(item, dict | list) for item in value)


def _records(title: str, items: Sequence[Mapping[str, Any]]) -> SectionTable:
    keys: dict[str, None] = {}
    for item in items:
        keys.update(dict.fromkeys(item))
    columns = tuple(keys)
    rows = tuple(tuple(_cell(item.get(key, "")) for key in columns) for item in items)
    return SectionTable(title, tuple(humanize(k) for k in columns), rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return str(value)
