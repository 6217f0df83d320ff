"""Render results for people and machines: YAML, JSON or a rich table, on stdout or stderr.

Shared by the command line and the demo, so neither reaches into the other: the generic pieces
(:func:`emit`, :func:`table`, the consoles) and the tables both of them print, such as
:func:`print_scan_table`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sealbox.ops import ScanSummary  # only named in a signature: ops stays unloaded here

__all__ = [
    "OutputFormat",
    "emit",
    "print_scan_table",
    "stderr_console",
    "stdout_console",
    "table",
    "to_json",
    "to_yaml",
]


class OutputFormat(StrEnum):
    """The ``-o`` choices shared by every command."""

    table = "table"
    json = "json"
    yaml = "yaml"


def stdout_console() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def stderr_console() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)


class _BlockStyleDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks so certificates and scripts stay readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_BlockStyleDumper, sort_keys=False, allow_unicode=True)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def emit(data: Any, fmt: OutputFormat) -> None:
    """Write machine-readable output to stdout (table falls back to YAML for nested data)."""
    text = to_json(data) if fmt is OutputFormat.json else to_yaml(data)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(str(cell) for cell in row))
    return out


def print_scan_table(summary: ScanSummary, *, verified: bool) -> None:
    """``sealbox etcd scan``'s table on stdout: objects by resource, provider and key, then
    totals (and, when the scan decrypted, how many are stale or undecryptable)."""
    rows = [
        [resource or "(other)", provider, key_name or "-", count]
        for (resource, provider, key_name), count in sorted(summary.by_resource.items())
    ]
    console = stdout_console()
    console.print(
        table(
            "Objects by resource, provider and key",
            ["resource", "provider", "key", "objects"],
            rows,
        )
    )
    totals = ", ".join(f"{p}: {n}" for p, n in sorted(summary.by_provider.items()))
    console.print(f"total {summary.total} ({totals or 'nothing found'})")
    if verified:
        console.print(f"stale {summary.stale}, undecryptable {summary.undecryptable}")
