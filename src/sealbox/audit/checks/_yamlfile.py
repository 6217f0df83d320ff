"""Read one small YAML config (EncryptionConfiguration, audit Policy) for a file-based check.

The config is a file named by its flag (:func:`read_yaml_file`), or one document found among the
manifests, cut out of its stream (:func:`yaml_document`); both give the same :class:`YamlFile`.

The file-based checks point at the line of a list item (a provider, a rule) or of a field
(``apiVersion: v1`` of a KMS block), so the document is loaded with the ``fields`` of
:mod:`sealbox.yamldoc`: its mappings and lists know where each key and item is
(:func:`sealbox.yamldoc.line_at`).

Only what stops a file from being read at all is reported here, as :class:`InputProblem`: a
missing or unreadable file, one over the size limit, binary or non-UTF-8 data, malformed YAML, or
an empty file. Nothing from the file's content is quoted (the files can hold keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from sealbox.audit.loader import DEFAULT_MAX_BYTES
from sealbox.audit.model import InputProblem, Location
from sealbox.yamldoc import NestingError, error_line, load_yaml

__all__ = ["YamlFile", "parse", "read_yaml_file", "yaml_document"]


@dataclass(frozen=True, slots=True)
class YamlFile:
    """A file that was read: its text and its single YAML document (not None)."""

    path: str
    text: str
    document: object


def read_yaml_file(
    path: Path, what: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[YamlFile | None, list[InputProblem]]:
    """Read and parse ``path`` (``what`` names it in problems: "EncryptionConfiguration").

    Returns the file, or None and the problems that stopped it. Never raises for bad content.
    """
    name = str(path)
    where = Location(name)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            message = f"the {what} is {size} bytes, over the {max_bytes}-byte limit"
            return None, [InputProblem(where, message)]
        data = path.read_bytes()
    except OSError as exc:
        return None, [InputProblem(where, f"cannot read the {what}: {exc.strerror or exc}")]
    if b"\x00" in data:
        return None, [InputProblem(where, f"the {what} is a binary file (NUL bytes)")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"the {what} is not UTF-8 text (invalid byte at offset {exc.start})"
        return None, [InputProblem(where, message)]
    return yaml_document(text, name, what)


def yaml_document(
    text: str, path: str, what: str, *, line_offset: int = 0
) -> tuple[YamlFile | None, list[InputProblem]]:
    """``text`` as a config of its own; its first line is line ``line_offset + 1`` of ``path``."""
    document, problem = parse(text, path, what, line_offset=line_offset)
    if problem is not None:
        return None, [problem]
    return YamlFile(path, text, document), []


def parse(
    text: str, path: str, what: str, *, line_offset: int = 0
) -> tuple[object, InputProblem | None]:
    """The one YAML document in ``text``, or an input problem (malformed, several, or empty)."""
    try:
        document = load_yaml(text, fields=True, line_offset=line_offset)
    except NestingError:
        return None, InputProblem(Location(path), f"malformed YAML in the {what}: nested too deep")
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "cannot parse"
        found = error_line(exc)
        where = Location(path, found + line_offset if found else 0)
        return None, InputProblem(where, f"malformed YAML in the {what}: {problem}")
    if document is None:
        return None, InputProblem(Location(path), f"the {what} is empty")
    return document, None
