"""One audit run: load the inputs, run every check, apply suppressions, build the report.

The checks (:mod:`sealbox.audit.checks`) are pure functions over already-loaded manifests (or
over one config); the engine decides which of them an :class:`AuditOptions` asks for, and judges
every config named by a flag or found among the manifests (:mod:`sealbox.audit.configs`).
Problems in the manifests never stop the run, they become :class:`InputProblem` entries; unusable
*arguments* raise :class:`InputError` (exit 2) before anything is reported: a path that does not
exist, a file named by a flag that cannot be read as what the flag says, a malformed ignore file,
and inputs with nothing to audit in them (:mod:`sealbox.audit.inputs`): a scan never passes on
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sealbox.audit import inputs, suppress
from sealbox.audit.checks import (
    ALL_CONTROLS,
    ClusterAnalyses,
    RbacSettings,
    check_audit_log,
    check_last_applied,
    check_rbac,
    check_rbac_placement,
    check_repository,
    check_workloads,
    read_yaml_file,
)
from sealbox.audit.configs import NamedConfig, audited_configs
from sealbox.audit.custom_workloads import custom_workloads
from sealbox.audit.loader import (
    AUDIT_POLICY,
    DEFAULT_MAX_BYTES,
    ENCRYPTION_CONFIG,
    IGNORE_FILE,
    KNOWN_KINDS,
    LoadResult,
    load_paths,
)
from sealbox.audit.model import (
    AuditReport,
    Finding,
    InputProblem,
    Location,
    Severity,
    Suppressed,
)
from sealbox.audit.ordering import collapse, order_key
from sealbox.errors import InputError
from sealbox.words import plural

__all__ = [
    "ALL_CONTROLS",
    "AuditOptions",
    "SourceInputs",
    "find_ignore_file",
    "run_audit",
]


@dataclass(frozen=True, slots=True)
class SourceInputs:
    """What an input other than files gave (a live cluster, :mod:`sealbox.audit.live`): objects
    audited like manifests, findings of its own (the etcd scan) and report sections."""

    loaded: LoadResult
    findings: tuple[Finding, ...] = ()
    sections: Mapping[str, Any] = field(default_factory=dict)


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
    cluster_roots: tuple[str, ...] = ()  # --cluster-root: each directory is its own cluster
    namespace: str | None = None  # --namespace: where namespace-less objects are applied
    source: Callable[[], SourceInputs] | None = None  # read after the arguments are checked


def find_ignore_file(paths: Sequence[str]) -> Path | None:
    """The default ignore file: in the first directory argument, else the working directory."""
    for raw in paths:
        if raw != "-" and os.path.isdir(raw):
            candidate = Path(raw, IGNORE_FILE)
            return candidate if candidate.is_file() else None
    candidate = Path(IGNORE_FILE)
    return candidate if candidate.is_file() else None


def run_audit(options: AuditOptions, *, stdin: TextIO | None = None) -> AuditReport:
    """Run every applicable check and return the report (InputError for unusable arguments)."""
    _check_arguments(options)
    ignore_path, entries = _suppressions(options)
    named = _named_configs(options)
    loaded = LoadResult()
    if options.paths:
        loaded = load_paths(options.paths, stdin=stdin, max_bytes=options.max_bytes)
        if not named and options.audit_log is None:
            inputs.manifests_or_error(options.paths, loaded, configs=True)
    configs = audited_configs(named, loaded.configs, options.paths)
    findings: list[Finding] = []
    sections: dict[str, Any] = {"inputs": configs.inputs(options.paths, options.audit_log)}
    if options.source is not None:
        extra = options.source()
        loaded.extend(extra.loaded)
        findings += extra.findings
        extra_sections = dict(extra.sections)
        sections["inputs"] += extra_sections.pop("inputs", [])
        sections.update(extra_sections)
    problems: list[InputProblem] = [*loaded.problems, *configs.problems]
    if options.paths or options.source is not None:
        settings = _rbac_settings(options)
        analyses = ClusterAnalyses(loaded.manifests, settings)  # split once, for both checks
        findings += check_workloads(loaded.manifests, settings, analyses)
        custom = custom_workloads(loaded.manifests, known=KNOWN_KINDS)
        if custom:  # custom resources whose pod specs were audited, and how they were found
            sections["customWorkloads"] = custom
        findings += check_repository(loaded.manifests, loaded.values)
        findings += check_last_applied(loaded.manifests)
        findings += check_rbac(loaded.manifests, settings, analyses)
    findings += configs.findings()
    if options.audit_log is not None:
        found, issues, summary = _audit_log(options.audit_log, options.expected_readers)
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
        findings=tuple(sorted(collapse(kept), key=order_key)),
        suppressed=tuple(sorted(suppressed, key=lambda s: order_key(s.finding))),
        problems=tuple(problems + stale),
        controls=ALL_CONTROLS,
        fail_on=options.fail_on,
        files=loaded.files + configs.extra_files + (options.audit_log is not None),
        objects=len(loaded.manifests),
        sections=sections,
        not_audited=tuple(loaded.not_audited),
        roots=options.paths,
    )


def _check_arguments(options: AuditOptions) -> None:
    named = _flag_files(options)
    if not options.paths and options.source is None and not any(path for _, path in named):
        raise InputError(
            "nothing to audit: give manifest paths (or - for stdin), --kubeconfig/--context, "
            "--encryption-config, --audit-policy or --audit-log"
        )
    inputs.check_paths(options.paths)
    for flag, path in (*named, ("--ignore-file", options.ignore_file)):
        if path is not None:
            inputs.check_file(flag, path)
    inputs.check_subjects(options.allowed_subjects)
    check_rbac_placement(options.cluster_roots, options.namespace)


def _rbac_settings(options: AuditOptions) -> RbacSettings:
    return RbacSettings(
        options.allowed_subjects, options.paths, options.cluster_roots, options.namespace
    )


def _flag_files(options: AuditOptions) -> tuple[tuple[str, Path | None], ...]:
    return (
        ("--encryption-config", options.encryption_config),
        ("--audit-policy", options.audit_policy),
        ("--audit-log", options.audit_log),
    )


def _suppressions(options: AuditOptions) -> tuple[Path | None, list[suppress.IgnoreEntry]]:
    """The ignore file in effect (None with ``--no-ignore``) and its entries."""
    if not options.honor_suppressions:
        return None, []
    path = options.ignore_file or find_ignore_file(options.paths)
    if path is None:
        return None, []
    flag = "--ignore-file" if options.ignore_file is not None else ""
    return path, suppress.load_ignore_file(path, flag=flag)


def _named_configs(options: AuditOptions) -> list[NamedConfig]:
    """The configs named by flags, read; InputError for one that is not what its flag says."""
    named: list[NamedConfig] = []
    for flag, role, path in (
        ("--encryption-config", ENCRYPTION_CONFIG, options.encryption_config),
        ("--audit-policy", AUDIT_POLICY, options.audit_policy),
    ):
        if path is not None:
            file, problems = read_yaml_file(path, role)
            if file is None:
                raise inputs.flag_error(flag, problems[0])
            named.append(NamedConfig(flag, role, file))
    return named


def _audit_log(
    path: Path, expected_readers: tuple[str, ...]
) -> tuple[list[Finding], list[InputProblem], dict[str, Any]]:
    """The audit log's findings, problems and summary; InputError for a log without one event
    (nothing in it could be judged, so it must not pass)."""
    findings, problems, summary = check_audit_log(path, expected_readers=expected_readers)
    if not summary["events"]:
        lines = plural(summary["lines"], "line")
        empty = InputProblem(Location(str(path)), f"no audit event in {lines}")
        raise inputs.flag_error("--audit-log", problems[0] if problems else empty)
    return findings, problems, summary


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
