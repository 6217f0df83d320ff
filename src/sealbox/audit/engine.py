"""One audit run: load the inputs, run every check, apply suppressions, build the report.

The checks (:mod:`sealbox.audit.checks`) are pure functions over already-loaded manifests (or
over one named file); the engine decides which of them an :class:`AuditOptions` asks for. Content
problems never stop the run, they become :class:`InputProblem` entries; only unusable *arguments*
(a path that does not exist, a malformed ignore file, no input at all) raise :class:`InputError`
(exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sealbox.audit import suppress
from sealbox.audit.checks import (
    ALL_CONTROLS,
    RbacSettings,
    check_audit_log,
    check_audit_policy,
    check_encryption_config,
    check_rbac,
    check_repository,
    check_workloads,
)
from sealbox.audit.loader import DEFAULT_MAX_BYTES, IGNORE_FILE, LoadResult, load_paths
from sealbox.audit.model import AuditReport, Finding, InputProblem, Severity, Suppressed
from sealbox.errors import InputError

__all__ = ["ALL_CONTROLS", "AuditOptions", "find_ignore_file", "run_audit"]


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """What one ``sealbox audit`` run looks at and how it judges."""

    paths: tuple[str, ...] = ()
    encryption_config: Path | None = None
    audit_policy: Path | None = None
    audit_log: Path | None = None
    fail_on: Severity | None = Severity.HIGH  # None: never fail
    allowed_subjects: tuple[str, ...] = ()
    expected_readers: tuple[str, ...] = ()
    ignore_file: Path | None = None
    honor_suppressions: bool = True
    max_bytes: int = DEFAULT_MAX_BYTES


def find_ignore_file(paths: Sequence[str]) -> Path | None:
    """The default ignore file: in the first directory argument, else the working directory."""
    for raw in paths:
        if raw != "-" and os.path.isdir(raw):
            candidate = Path(raw, IGNORE_FILE)
            return candidate if candidate.is_file() else None
    candidate = Path(IGNORE_FILE)
    return candidate if candidate.is_file() else None


def _check_arguments(options: AuditOptions) -> None:
    files = (options.encryption_config, options.audit_policy, options.audit_log)
    if not options.paths and not any(files):
        raise InputError(
            "nothing to audit: give manifest paths (or - for stdin), --encryption-config, "
            "--audit-policy or --audit-log"
        )
    missing = [p for p in options.paths if p != "-" and not os.path.exists(p)]
    missing += [str(p) for p in (*files, options.ignore_file) if p is not None and not p.exists()]
    if missing:
        raise InputError(f"no such file or directory: {', '.join(missing)}")
    if options.paths.count("-") > 1:
        raise InputError("stdin (-) can be given only once")


def run_audit(options: AuditOptions, *, stdin: TextIO | None = None) -> AuditReport:
    """Run every applicable check and return the report (InputError for unusable arguments)."""
    _check_arguments(options)
    ignore_path = options.ignore_file
    if ignore_path is None and options.honor_suppressions:
        ignore_path = find_ignore_file(options.paths)
    if not options.honor_suppressions:
        ignore_path = None
    entries = suppress.load_ignore_file(ignore_path) if ignore_path is not None else []

    loaded = (
        load_paths(options.paths, stdin=stdin, max_bytes=options.max_bytes)
        if options.paths
        else LoadResult()
    )
    problems: list[InputProblem] = list(loaded.problems)
    findings: list[Finding] = []
    sections: dict[str, Any] = {}
    if options.paths:
        findings += check_workloads(loaded.manifests)
        findings += check_repository(loaded.manifests, loaded.values)
        findings += check_rbac(loaded.manifests, RbacSettings(options.allowed_subjects))
    for path, checker in (
        (options.encryption_config, check_encryption_config),
        (options.audit_policy, check_audit_policy),
    ):
        if path is not None:
            found, issues = checker(path)
            findings += found
            problems += issues
    if options.audit_log is not None:
        found, issues, summary = check_audit_log(
            options.audit_log, expected_readers=options.expected_readers
        )
        findings += found
        problems += issues
        sections["auditLog"] = summary

    kept = _unique(findings)
    suppressed: list[Suppressed] = []
    stale: list[InputProblem] = []
    if options.honor_suppressions:
        kept, suppressed, stale = suppress.apply_suppressions(
            kept,
            loaded.manifests,
            entries,
            base=ignore_path.parent if ignore_path is not None else None,
        )
    return AuditReport(
        findings=tuple(sorted(kept, key=Finding.sort_key)),
        suppressed=tuple(sorted(suppressed, key=lambda s: s.finding.sort_key())),
        problems=tuple(problems + stale),
        controls=ALL_CONTROLS,
        fail_on=options.fail_on,
        files=loaded.files + sum(p is not None for p in _files(options)),
        objects=len(loaded.manifests),
        sections=sections,
    )


def _files(options: AuditOptions) -> Iterable[Path | None]:
    return (options.encryption_config, options.audit_policy, options.audit_log)


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """Drop exact repeats (same control, place, object and message), keeping the first."""
    seen: set[tuple[str, str, int, object, str]] = set()
    unique: list[Finding] = []
    for finding in findings:
        key = (
            finding.control.id,
            finding.location.path,
            finding.location.line,
            finding.obj,
            finding.message,
        )
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique
