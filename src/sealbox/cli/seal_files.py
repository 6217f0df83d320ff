"""Reading manifests and rewriting SealedSecret files for ``sealbox seal``.

Parsing never quotes the input in a message (a parser's message may hold a value). A file
rewritten in place (``--merge-into``, ``--re-encrypt``) keeps its mode and format (JSON or YAML,
by content, else by extension) and is replaced atomically: a temp file in the same directory,
renamed over it, so a failure leaves the original as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Any

from sealbox.errors import InputError

__all__ = ["FormatChoice", "documents", "file_format", "render", "replace_file"]


class FormatChoice(StrEnum):
    """``-o`` formats."""

    json = "json"
    yaml = "yaml"


def documents(data: bytes, label: str, what: str = "a Secret") -> list[Any]:
    """Every non-empty YAML/JSON document of ``data``; InputError naming ``label`` otherwise."""
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{label}: not UTF-8 text; expected {what} in YAML or JSON") from None
    try:
        found = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        # the parser's own message may quote the input, which may be a value: never shown
        raise InputError(f"{where}: not valid YAML or JSON; expected {what} manifest") from None
    if not found:
        raise InputError(f"{label}: empty; expected {what} in YAML or JSON")
    return found


def render(docs: list[dict[str, Any]], output_format: FormatChoice) -> str:
    """kubeseal's output: pretty JSON documents each ending in a newline, or YAML documents
    each after ``---``."""
    if output_format is FormatChoice.json:
        return "".join(json.dumps(doc, indent=2) + "\n" for doc in docs)
    import yaml

    return "".join(
        "---\n" + yaml.safe_dump(doc, sort_keys=True, default_flow_style=False) for doc in docs
    )


def file_format(path: Path, data: bytes) -> FormatChoice:
    """JSON when the content starts like JSON; else YAML for .yaml/.yml or any other content."""
    if data.lstrip()[:1] in (b"{", b"["):
        return FormatChoice.json
    if path.suffix == ".json" and not data.strip():
        return FormatChoice.json
    return FormatChoice.yaml


def replace_file(path: Path, data: bytes, flag: str) -> None:
    """Replace ``path`` by ``data`` atomically, keeping its permission bits.

    Raises:
        InputError: the directory cannot be written.
    """
    try:
        mode = path.stat().st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write ({exc.strerror or exc})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
