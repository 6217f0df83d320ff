"""``sealbox audit``: find where Secrets leak in manifests, RBAC, encryption and audit configs.

``sealbox audit PATHS...`` is the scan (the ``scan`` word may be left out);
``sealbox audit who-can-read NAMESPACE/NAME PATHS...`` answers the one question per Secret;
``sealbox audit controls`` lists every control. Exit codes: 0 nothing at or above ``--fail-on``,
1 findings at or above it, 2 usage or input error.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from sealbox.audit import DEFAULT_MAX_BYTES, IGNORE_FILE, AuditReport, Severity, load_paths
from sealbox.errors import InputError
from sealbox.render import OutputFormat, emit, stdout_console, table

__all__ = ["app"]


class _DefaultScanGroup(TyperGroup):
    """Runs ``scan`` when the first argument is not a subcommand: ``sealbox audit ./deploy``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["scan", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DefaultScanGroup,
    help=(
        "Audit how Secrets are protected: workloads, committed manifests, RBAC read paths, "
        "EncryptionConfiguration, audit policy and audit logs. All offline, on files.\n\n"
        "Examples:\n\n"
        "  sealbox audit ./deploy\n\n"
        "  helm template my-release ./chart | sealbox audit -\n\n"
        "  sealbox audit ./deploy --encryption-config encryption.yaml -o sarif > audit.sarif\n\n"
        "  sealbox audit who-can-read team-a/db-password ./deploy"
    ),
    no_args_is_help=True,
)


class AuditFormat(StrEnum):
    """Report formats."""

    table = "table"
    json = "json"
    sarif = "sarif"
    html = "html"


class FailOn(StrEnum):
    """Lowest severity that makes the exit code 1 (``never`` keeps it 0)."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"
    never = "never"


# -o of who-can-read and controls (declared once, like _PATHS)
_LISTING_FORMAT = typer.Option(OutputFormat.table, "--output", "-o", help="table, json or yaml.")
_PATHS = typer.Argument(
    None,
    help="Manifest files or directories (walked recursively for .yaml/.yml/.json); - for stdin.",
    show_default=False,
)


@app.command("scan")
def scan_command(
    paths: list[str] | None = _PATHS,
    encryption_config: Path | None = typer.Option(
        None, "--encryption-config", help="A kube-apiserver EncryptionConfiguration to grade."
    ),
    audit_policy: Path | None = typer.Option(
        None, "--audit-policy", help="An audit.k8s.io/v1 Policy to simulate (first match wins)."
    ),
    audit_log: Path | None = typer.Option(
        None, "--audit-log", help="An audit log (JSON lines, .gz allowed), read as a stream."
    ),
    output: AuditFormat = typer.Option(AuditFormat.table, "--output", "-o", help="Report format."),
    output_file: Path | None = typer.Option(
        None, "--output-file", help="Write the report to this file instead of stdout."
    ),
    fail_on: FailOn = typer.Option(
        FailOn.high, "--fail-on", help="Exit 1 when a finding has this severity or higher."
    ),
    allow_subject: list[str] = typer.Option(
        [],
        "--allow-subject",
        help="An expected Secret reader, e.g. 'ServiceAccount:kube-system/*' or "
        "'Group:platform-admins' (repeatable; fnmatch patterns).",
    ),
    expected_reader: list[str] = typer.Option(
        [],
        "--expected-reader",
        help="A username the audit-log check treats as a normal Secret reader (repeatable).",
    ),
    ignore_file: Path | None = typer.Option(
        None,
        "--ignore-file",
        help=f"Suppressions file (default: {IGNORE_FILE} in the first directory given, else in "
        "the working directory).",
    ),
    no_ignore: bool = typer.Option(
        False, "--no-ignore", help="Report everything: ignore annotations and ignore files."
    ),
    max_file_size: int = typer.Option(
        DEFAULT_MAX_BYTES, "--max-file-size", help="Skip (and report) files larger than this."
    ),
) -> None:
    """Scan manifests and configs; print findings grouped by severity (never a secret value)."""
    from sealbox.audit import AuditOptions, run_audit  # the checks load on demand

    threshold = None if fail_on is FailOn.never else Severity.parse(fail_on.value)
    options = AuditOptions(
        paths=tuple(paths or ()),
        encryption_config=encryption_config,
        audit_policy=audit_policy,
        audit_log=audit_log,
        fail_on=threshold,
        allowed_subjects=tuple(allow_subject),
        expected_readers=tuple(expected_reader),
        ignore_file=ignore_file,
        honor_suppressions=not no_ignore,
        max_bytes=max_file_size,
    )
    report = run_audit(options)
    _write(report, output, output_file)
    raise typer.Exit(1 if report.failed else 0)


def _write(report: AuditReport, output: AuditFormat, output_file: Path | None) -> None:
    if output is AuditFormat.table and output_file is None:
        from sealbox.audit.report import render_table

        console = stdout_console()
        if not console.is_terminal:  # a CI log or a pager: room for the message column
            console.width = 140
        render_table(report, console)
        return
    text = _format(report, output)
    if output_file is None:
        sys.stdout.write(text)
        return
    try:
        output_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{output_file}: cannot write the report: {exc.strerror}") from None
    counts = report.counts()
    summary = ", ".join(f"{counts[s]} {s.label}" for s in reversed(Severity) if counts[s])
    typer.echo(f"wrote {output.value} report to {output_file}: {summary or 'no findings'}")


def _format(report: AuditReport, output: AuditFormat) -> str:
    if output is AuditFormat.json:
        from sealbox.audit.report import to_json_dict

        return json.dumps(to_json_dict(report), indent=2, ensure_ascii=False) + "\n"
    if output is AuditFormat.sarif:
        from sealbox.audit.report import to_sarif

        # Code-scanning UIs resolve locations against the repository root: run from there.
        return json.dumps(to_sarif(report, base_dir=Path.cwd()), indent=2) + "\n"
    if output is AuditFormat.html:
        from sealbox.audit.report import to_html

        return to_html(report)
    from sealbox.audit.report import render_table

    console = Console(file=io.StringIO(), width=160, record=True)
    render_table(report, console)
    return console.export_text()


@app.command("who-can-read")
def who_can_read_command(
    secret: str = typer.Argument(..., help="The Secret as NAMESPACE/NAME.", show_default=False),
    paths: list[str] = typer.Argument(
        ..., help="Manifest files or directories with the RBAC objects; - for stdin."
    ),
    output: OutputFormat = _LISTING_FORMAT,
) -> None:
    """List every subject that can read one Secret, and the path: direct verb or indirect route."""
    from sealbox.audit.rbac import who_can_read

    namespace, sep, name = secret.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise InputError(f"expected NAMESPACE/NAME, got {secret!r}")
    missing = [p for p in paths if p != "-" and not Path(p).exists()]
    if missing:
        raise InputError(f"no such file or directory: {', '.join(missing)}")
    loaded = load_paths(paths)
    for problem in loaded.problems:
        typer.echo(f"warning: {problem}", err=True)
    accesses = who_can_read(loaded.manifests, namespace, name)
    if output is not OutputFormat.table:
        readers = [access.as_dict() for access in accesses]
        emit({"secret": {"namespace": namespace, "name": name}, "readers": readers}, output)
        return
    console = stdout_console()
    if not console.is_terminal:
        console.width = 160
    columns = ["Subject", "How", "Scope", "Path (binding -> role, rule)"]
    rows = [
        [
            escape(access.subject),
            escape(access.how if access.reads == access.how else f"{access.how} -> {access.reads}"),
            escape(access.scope),
            escape(_path(access.chain, access.via, access.note)),
        ]
        for access in accesses
    ]
    console.print(table(f"Who can read Secret {escape(secret)}", columns, rows))


def _path(chain: Sequence[object], via: Sequence[str], note: str) -> str:
    steps = " ; ".join(str(link) for link in chain)
    if via:
        steps += f" (acting as {', '.join(via)})"
    if note:
        steps = f"{steps} - {note}" if steps else note
    return steps


@app.command("controls")
def controls_command(output: OutputFormat = _LISTING_FORMAT) -> None:
    """List every control: id, severity, title, and the closest ids in other tools."""
    from sealbox.audit import ALL_CONTROLS

    rows: list[dict[str, Any]] = [
        {
            "id": c.id,
            "severity": c.severity.label,
            "area": c.area,
            "title": c.title,
            "rationale": c.rationale,
            "remediation": c.remediation,
            "mappings": list(c.mappings),
        }
        for c in ALL_CONTROLS
    ]
    if output is not OutputFormat.table:
        emit(rows, output)
        return
    table_rows = [
        [c.id, c.severity.label, c.area, escape(c.title), escape(", ".join(c.mappings))]
        for c in ALL_CONTROLS
    ]
    columns = ["ID", "Severity", "Area", "Title", "Other tools"]
    stdout_console().print(table("Sealbox audit controls", columns, table_rows))
