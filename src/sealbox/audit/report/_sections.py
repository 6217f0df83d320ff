"""``AuditReport.sections`` as tables of strings, which the rich table and HTML page both render.

A section is free-form JSON-ready data (nested dicts and lists of dicts, such as the audit-log
summary); :func:`section_tables` flattens one into :class:`SectionTable` objects the same way for
every output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealbox.audit.model import NotAudited
from sealbox.audit.report._jsonable import jsonable
from sealbox.audit.report._paths import PathDisplay
from sealbox.audit.report._text import humanize

__all__ = ["NOT_AUDITED_TITLE", "SectionTable", "not_audited_table", "section_tables"]

NOT_AUDITED_TITLE = "Not audited"


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


def not_audited_table(items: Sequence[NotAudited], shown: PathDisplay) -> SectionTable:
    """The kinds read but not audited: kind, how many objects, where the first one is."""
    rows = tuple(
        (f"kind {item.kind}", str(item.objects), shown.location(item.location)) for item in items
    )
    return SectionTable(f"{NOT_AUDITED_TITLE} ({len(items)})", ("Kind", "Objects", "First"), rows)


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
