"""``sealbox audit``: find where Secrets leak in manifests, RBAC, encryption and audit configs.

``sealbox audit PATHS...`` is the scan (the ``scan`` word may be left out);
``sealbox audit who-can-read NAMESPACE/NAME PATHS...`` answers the one question per Secret;
``sealbox audit controls`` lists every control. Exit codes: 0 nothing at or above ``--fail-on``,
1 findings at or above it, 2 usage or input error (including inputs with nothing to audit).

Every command follows the CLI's output convention: ``-o/--output`` is the format, and
``--output-file FILE`` writes the report there instead of stdout (atomically, never over an
existing file unless ``--force``), checked before any work is done.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from typer.core import TyperGroup

from sealbox.audit import DEFAULT_MAX_BYTES, IGNORE_FILE, AuditReport, Severity, load_manifests
from sealbox.cli.audit_live import LiveEtcdOptions, live_source, with_live_etcd_options
from sealbox.cli.io import check_output_file, write_private_file
from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.errors import InputError
from sealbox.render import OutputFormat, emit, stdout_console, table, to_json, to_yaml

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
        "EncryptionConfiguration, audit policy and audit logs: on files, or read-only on a live "
        "cluster with --kubeconfig/--context (Secrets by metadata only).\n\n"
        "Examples:\n\n"
        "  sealbox audit ./deploy\n\n"
        "  helm template my-release ./chart | sealbox audit -\n\n"
        "  sealbox audit ./deploy --encryption-config encryption.yaml -o sarif > audit.sarif\n\n"
        "  sealbox audit who-can-read team-a/db-password ./deploy\n\n"
        "  sealbox audit --kubeconfig ~/.kube/config --context prod"
    ),
    no_args_is_help=True,
)


class AuditFormat(StrEnum):
    """Report formats (``yaml`` is the ``json`` document, as YAML)."""

    table = "table"
    json = "json"
    yaml = "yaml"
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


# Options every command shares, declared once.
_LISTING_FORMAT = typer.Option(OutputFormat.table, "--output", "-o", help="table, json or yaml.")
_PATHS = typer.Argument(
    None,
    help="Manifest files or directories (walked recursively for .yaml/.yml/.json); - for stdin.",
    show_default=False,
)
_OUTPUT_FILE = typer.Option(
    None,
    "--output-file",
    help="Write the report to this file (mode 0600, atomically) instead of stdout; an existing "
    "file only with --force.",
)
_FORCE = typer.Option(False, "--force", help="Replace an existing --output-file.")


@app.command("scan")
@with_kube_options
@with_live_etcd_options
def scan_command(
    paths: list[str] | None = _PATHS,
    *,
    kube: KubeOptions,
    etcd: LiveEtcdOptions,
    encryption_config: Path | None = typer.Option(
        None, "--encryption-config", help="A kube-apiserver EncryptionConfiguration to grade."
    ),
    audit_policy: Path | None = typer.Option(
        None, "--audit-policy", help="An audit.k8s.io/v1 Policy to simulate (first match wins)."
    ),
    audit_log: Path | None = typer.Option(
        None, "--audit-log", help="An audit log (JSON lines, .gz allowed), read as a stream."
    ),
    output: AuditFormat = typer.Option(
        AuditFormat.table, "--output", "-o", help="Report format: table, json, yaml, sarif, html."
    ),
    output_file: Path | None = _OUTPUT_FILE,
    force: bool = _FORCE,
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
        DEFAULT_MAX_BYTES,
        "--max-file-size",
        min=1,
        help="Skip (and report) files larger than this many bytes.",
    ),
    cluster_root: list[str] = typer.Option(
        [],
        "--cluster-root",
        help="A directory whose manifests form one cluster; RBAC resolves roles within it "
        "(repeatable; default: each top-level kustomization, and the rest together).",
    ),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        help="Namespace for objects and ServiceAccount subjects that neither the manifest "
        "nor a kustomization places (default: assumed 'default', and said so).",
    ),
) -> None:
    """Scan manifests and configs; print findings grouped by severity (never a secret value).

    EncryptionConfiguration and audit Policy files found among the manifests are audited as if
    named by --encryption-config and --audit-policy. Inputs with nothing to audit are an error
    (exit 2), not a pass.

    Examples:

        sealbox audit scan ./deploy

        sealbox audit scan ./deploy --encryption-config /etc/kubernetes/enc.yaml \\
            --audit-policy /etc/kubernetes/audit-policy.yaml \\
            --audit-log /var/log/kube-audit.log

        sealbox audit scan ./deploy --fail-on medium -o sarif \\
            --output-file audit.sarif

        helm template my-release ./chart | sealbox audit scan - -o json

        sealbox audit scan --kubeconfig ~/.kube/config --context prod
    """
    from sealbox.audit import AuditOptions, run_audit  # the checks load on demand

    if output_file is not None:
        check_output_file("--output-file", output_file, force=force)
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
        cluster_roots=tuple(cluster_root),
        namespace=namespace,
        source=live_source(kube, etcd, encryption_config),
    )
    report = run_audit(options)
    if output is AuditFormat.table and output_file is None:
        from sealbox.audit.report import render_table

        render_table(report, _wide_stdout(140))  # a CI log or a pager: room for the message
    elif output_file is None:
        sys.stdout.write(_format(report, output))
    else:
        _write(output_file, _format(report, output), force=force)
        counts = report.counts()
        summary = ", ".join(f"{counts[s]} {s.label}" for s in reversed(Severity) if counts[s])
        typer.echo(f"wrote {output.value} report to {output_file}: {summary or 'no findings'}")
    raise typer.Exit(1 if report.failed else 0)


def _format(report: AuditReport, output: AuditFormat) -> str:
    if output in (AuditFormat.json, AuditFormat.yaml):
        from sealbox.audit.report import to_json_dict

        document = to_json_dict(report)
        if output is AuditFormat.yaml:
            return to_yaml(document)
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is AuditFormat.sarif:
        from sealbox.audit.report import to_sarif

        # Code-scanning UIs resolve locations against the repository root: run from there.
        return json.dumps(to_sarif(report, base_dir=Path.cwd()), indent=2) + "\n"
    if output is AuditFormat.html:
        from sealbox.audit.report import to_html

        return to_html(report)
    from sealbox.audit.report import render_table

    return _text(lambda console: render_table(report, console))


@app.command("who-can-read")
def who_can_read_command(
    secret: str = typer.Argument(..., help="The Secret as NAMESPACE/NAME.", show_default=False),
    paths: list[str] = typer.Argument(
        ..., help="Manifest files or directories with the RBAC objects; - for stdin."
    ),
    output: OutputFormat = _LISTING_FORMAT,
    output_file: Path | None = _OUTPUT_FILE,
    force: bool = _FORCE,
) -> None:
    """List every subject that can read one Secret, and the path: direct verb or indirect route.

    Direct readers hold get, list or watch on the Secret; indirect ones reach it by creating
    pods, exec, impersonation, tokens and the other routes the RBAC objects in PATHS allow.

    Examples:

        sealbox audit who-can-read team-a/db-password ./deploy

        sealbox audit who-can-read team-a/db-password ./deploy ./cluster-rbac \\
            -o json --output-file readers.json
    """
    from sealbox.audit.rbac import who_can_read

    namespace, sep, name = secret.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise InputError(
            f"SECRET {secret!r}: expected NAMESPACE/NAME, e.g. team-a/db-password (the "
            "namespace, a slash, then the Secret's name)"
        )
    if output_file is not None:
        check_output_file("--output-file", output_file, force=force)
    loaded = load_manifests(paths)
    for problem in loaded.problems:
        typer.echo(f"warning: {problem}", err=True)
    accesses = who_can_read(loaded.manifests, namespace, name)
    readers = [access.as_dict() for access in accesses]
    rows = [
        [
            escape(access.subject),
            escape(access.how if access.reads == access.how else f"{access.how} -> {access.reads}"),
            escape(access.scope),
            escape(_path(access.chain, access.via, access.note)),
        ]
        for access in accesses
    ]
    _listing(
        {"secret": {"namespace": namespace, "name": name}, "readers": readers},
        output,
        lambda: table(
            f"Who can read Secret {escape(secret)}",
            ["Subject", "How", "Scope", "Path (binding -> role, rule)"],
            rows,
        ),
        target=output_file,
        force=force,
    )


def _path(chain: Sequence[object], via: Sequence[str], note: str) -> str:
    steps = " ; ".join(str(link) for link in chain)
    if via:
        steps += f" (acting as {', '.join(via)})"
    if note:
        steps = f"{steps} - {note}" if steps else note
    return steps


@app.command("controls")
def controls_command(
    output: OutputFormat = _LISTING_FORMAT,
    output_file: Path | None = _OUTPUT_FILE,
    force: bool = _FORCE,
) -> None:
    """List every control: id, severity, title, and the closest ids in other tools.

    json and yaml also give each control's rationale (and its sources) and remediation.

    Examples:

        sealbox audit controls

        sealbox audit controls -o yaml --output-file controls.yaml
    """
    from sealbox.audit import ALL_CONTROLS

    if output_file is not None:
        check_output_file("--output-file", output_file, force=force)
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
    table_rows = [
        [c.id, c.severity.label, c.area, escape(c.title), escape(", ".join(c.mappings))]
        for c in ALL_CONTROLS
    ]
    columns = ["ID", "Severity", "Area", "Title", "Other tools"]
    _listing(
        rows,
        output,
        lambda: table("Sealbox audit controls", columns, table_rows),
        target=output_file,
        force=force,
    )


def _listing(
    data: Any,
    output: OutputFormat,
    make_table: Callable[[], RenderableType],
    *,
    target: Path | None,
    force: bool,
) -> None:
    """``data`` as JSON or YAML, or ``make_table()`` for ``table``, on stdout or to ``target``."""
    if target is None:
        if output is OutputFormat.table:
            _wide_stdout(160).print(make_table())
        else:
            emit(data, output)
        return
    if output is OutputFormat.table:
        text = _text(lambda console: console.print(make_table()))
    else:
        text = to_json(data) + "\n" if output is OutputFormat.json else to_yaml(data)
    _write(target, text, force=force)
    typer.echo(f"wrote {output.value} to {target}")


def _wide_stdout(width: int) -> Console:
    """The stdout console; ``width`` columns when it is not a terminal (a CI log, a pipe)."""
    console = stdout_console()
    if not console.is_terminal:
        console.width = width
    return console


def _text(render: Callable[[Console], None]) -> str:
    """What ``render`` prints, as plain text (tables written to a file)."""
    console = Console(file=io.StringIO(), width=160, record=True)
    render(console)
    return console.export_text()


def _write(target: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``target`` via a temp file renamed into place (never over an existing
    file unless ``force``)."""
    write_private_file(target, text.encode("utf-8"), replace=force, flag="--output-file")
