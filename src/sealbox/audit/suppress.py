"""Suppressions: the ``sealbox.io/ignore`` annotation and the ``.sealbox-ignore.yaml`` file.

An annotation on an object accepts the listed controls for findings about that object::

    metadata:
      annotations:
        sealbox.io/ignore: SBX-101,SBX-103
        sealbox.io/ignore-reason: the sidecar reads the token from env by design

The ignore file accepts findings anywhere, and every entry must say why::

    ignore:
      - id: SBX-301                        # required: the control id
        object: RoleBinding team-a/ci      # optional: "Kind ns/name" or "Kind name"
        file: deploy/rbac/*.yaml           # optional: glob on the finding's file
        reason: CI reads its own deploy key  # required
        expires: 2027-03-01                # optional: after this day the entry stops applying

An entry that matched nothing, or has expired, is reported as an input problem so stale
suppressions do not pile up silently. A malformed ignore file is a usage error (exit 2).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from sealbox.audit.model import (
    Finding,
    InputProblem,
    Location,
    Manifest,
    ObjectRef,
    Suppressed,
)
from sealbox.errors import InputError
from sealbox.yamldoc import YamlMapping, error_line, load_yaml

__all__ = [
    "ANNOTATION",
    "REASON_ANNOTATION",
    "IgnoreEntry",
    "apply_suppressions",
    "load_ignore_file",
    "parse_object",
]

ANNOTATION = "sealbox.io/ignore"
REASON_ANNOTATION = "sealbox.io/ignore-reason"
_ID = re.compile(r"SBX-\d{3}")
_OBJECT = re.compile(r"^(?P<kind>[A-Za-z][A-Za-z0-9]*)\s+(?:(?P<ns>[^/\s]+)/)?(?P<name>[^/\s]+)$")
_EXPECTED = "expected a mapping with an 'ignore:' list of entries, each with an id and a reason"
_ENTRY_FIELDS = {"id", "object", "file", "reason", "expires"}


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    """One entry of an ignore file."""

    id: str
    reason: str
    where: Location
    object: ObjectRef | None = None
    file: str | None = None
    expires: dt.date | None = None

    def matches(self, finding: Finding, base: Path | None) -> bool:
        if finding.control.id != self.id:
            return False
        if self.object is not None and finding.obj != self.object:
            return False
        if self.file is not None:
            path = finding.location.path
            candidates = [path]
            if base is not None:
                with contextlib.suppress(ValueError):
                    candidates.append(str(Path(path).resolve().relative_to(base.resolve())))
            return any(fnmatch.fnmatch(candidate, self.file) for candidate in candidates)
        return True


def parse_object(text: str) -> ObjectRef:
    """``"RoleBinding team-a/ci"`` or ``"ClusterRole admin"`` -> ObjectRef (ValueError if not)."""
    match = _OBJECT.match(text.strip())
    if match is None:
        raise ValueError(f"object {text!r} is not 'Kind namespace/name' or 'Kind name'")
    return ObjectRef(match["kind"], match["ns"], match["name"])


def load_ignore_file(path: Path, *, flag: str = "") -> list[IgnoreEntry]:
    """Parse an ignore file; raise InputError naming file:line (and ``flag``, the option that
    named the file, if any) for anything malformed, and what is expected instead."""
    label = f"{flag} {path}" if flag else str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read the ignore file ({exc.strerror or exc})") from None
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        found = error_line(exc)
        line = f":{found}" if found else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{label}{line}: malformed YAML: {problem}; {_EXPECTED}") from None
    if document is None:
        return []
    entries = document.get("ignore") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise InputError(f"{label}: {_EXPECTED}")
    prefix = f"{flag} " if flag else ""
    return [_entry(path, index, item, prefix) for index, item in enumerate(entries)]


def _entry(path: Path, index: int, item: object, flag: str) -> IgnoreEntry:
    where = Location(str(path), item.line if isinstance(item, YamlMapping) else 0)
    prefix = f"{flag}{where}: ignore[{index}]"
    if not isinstance(item, Mapping):
        raise InputError(f"{prefix}: expected a mapping with id and reason")
    unknown = sorted(set(map(str, item)) - _ENTRY_FIELDS)
    if unknown:
        fields = ", ".join(sorted(_ENTRY_FIELDS))
        raise InputError(f"{prefix}: unknown field {', '.join(unknown)} (valid: {fields})")
    control = item.get("id")
    if not isinstance(control, str) or not _ID.fullmatch(control):
        raise InputError(f"{prefix}.id: expected a control id such as SBX-101")
    reason = item.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise InputError(f"{prefix}.reason: every suppression must say why")
    obj = None
    if item.get("object") is not None:
        try:
            obj = parse_object(str(item["object"]))
        except ValueError as exc:
            raise InputError(f"{prefix}.object: {exc}") from None
    file = item.get("file")
    if file is not None and not isinstance(file, str):
        raise InputError(f"{prefix}.file: expected a path glob")
    expires = item.get("expires")
    if expires is not None and not isinstance(expires, dt.date):
        try:
            expires = dt.date.fromisoformat(str(expires))
        except ValueError:
            raise InputError(f"{prefix}.expires: expected a date such as 2027-03-01") from None
    return IgnoreEntry(control, reason.strip(), where, obj, file, expires)


def _annotation_ids(manifest: Manifest) -> frozenset[str]:
    value = manifest.annotations.get(ANNOTATION)
    if not isinstance(value, str):
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def apply_suppressions(
    findings: Iterable[Finding],
    manifests: Iterable[Manifest],
    entries: Sequence[IgnoreEntry],
    *,
    base: Path | None = None,
    today: dt.date | None = None,
) -> tuple[list[Finding], list[Suppressed], list[InputProblem]]:
    """Split findings into kept and suppressed; report unused and expired ignore entries."""
    today = today or dt.date.today()
    annotated: dict[ObjectRef, tuple[frozenset[str], str]] = {}
    for manifest in manifests:
        ids = _annotation_ids(manifest)
        if ids:
            reason = manifest.annotations.get(REASON_ANNOTATION)
            annotated[manifest.ref] = (ids, str(reason) if reason else "no reason given")
    live = [entry for entry in entries if entry.expires is None or entry.expires >= today]
    used: set[int] = set()
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    for finding in findings:
        by_annotation = annotated.get(finding.obj) if finding.obj is not None else None
        if by_annotation is not None and finding.control.id in by_annotation[0]:
            source = f"annotation {ANNOTATION}"
            suppressed.append(Suppressed(finding, by_annotation[1], source))
            continue
        for index, entry in enumerate(live):
            if entry.matches(finding, base):
                used.add(index)
                suppressed.append(Suppressed(finding, entry.reason, str(entry.where)))
                break
        else:
            kept.append(finding)
    problems = [
        InputProblem(entry.where, f"suppression of {entry.id} expired on {entry.expires}")
        for entry in entries
        if entry.expires is not None and entry.expires < today
    ]
    problems += [
        InputProblem(entry.where, f"suppression of {entry.id} matched no finding")
        for index, entry in enumerate(live)
        if index not in used
    ]
    return kept, suppressed, problems
