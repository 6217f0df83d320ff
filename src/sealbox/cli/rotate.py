"""``sealbox rotate``: rotate the encryption-at-rest key on every apiserver, safely.

``plan`` shows the stages and the files they write (no key is ever shown), ``apply`` runs them
(resumable: its state sits beside the config) and ``status`` says where a rotation stands. Bad
input is one ``error:`` line naming the flag, file or field, exit 2, before anything is written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.cli.option_group import option_group
from sealbox.duration import duration_in_range
from sealbox.errors import ConfigError, ConfigIssue, InputError
from sealbox.render import OutputFormat, emit, stdout_console, table
from sealbox.storage import DEFAULT_PREFIX

if TYPE_CHECKING:
    from sealbox.rotate import EtcdAccess

__all__ = ["app"]

_STAGES_TEXT = (
    "A rotation has five stages: (1) add the new key (or provider) second and wait until every "
    "apiserver has loaded that file; (2) promote it first, so new writes use it, and wait again; "
    "(3) reencrypt every object the rotated entries cover; (4) verify that no stored value still "
    "needs the old key; (5) remove the old key, and wait until every apiserver runs the final "
    "file. The old key is only removed once verify has passed."
)

app = typer.Typer(
    help="Rotate the encryption-at-rest key on every kube-apiserver, stage by stage. "
    + _STAGES_TEXT,
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="The apiservers' EncryptionConfiguration (--encryption-provider-config).",
        show_default=False,
    ),
]
TargetOption = Annotated[
    str,
    typer.Option(
        "--to",
        metavar="TARGET",
        help="What to rotate to: aesgcm, aescbc, secretbox (a new key) or kms:<name> (a KMS v2 "
        "provider).",
        show_default=False,
    ),
]
KmsEndpointOption = Annotated[
    str | None,
    typer.Option(
        "--kms-endpoint",
        metavar="URL",
        help="The KMS v2 plugin's socket, e.g. unix:///var/run/kms.sock, when --to kms:<name> "
        "names a provider the file does not list yet.",
    ),
]
OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="table (default), json or yaml.")
]


@dataclass(frozen=True, slots=True)
class RotateEtcdOptions:
    """etcd, as the etcd commands reach it; optional: without --endpoints, the API is used."""

    endpoints: Annotated[
        str | None,
        typer.Option(
            "--endpoints",
            help="etcd endpoints (comma-separated). Given: reencrypt rewraps in etcd and verify "
            "scans etcd; else both go through the API.",
        ),
    ] = None
    cacert: Annotated[
        Path | None, typer.Option("--cacert", help="CA bundle that signed etcd's serving cert.")
    ] = None
    cert: Annotated[Path | None, typer.Option("--cert", help="etcd client certificate.")] = None
    key: Annotated[Path | None, typer.Option("--key", help="etcd client certificate's key.")] = None
    etcd_timeout: Annotated[
        float, typer.Option("--etcd-timeout", help="Seconds per etcd call and endpoint.", min=0.1)
    ] = 5.0
    prefix: Annotated[str, typer.Option("--prefix", help="The apiserver's --etcd-prefix.")] = (
        DEFAULT_PREFIX
    )


with_rotate_etcd = option_group(RotateEtcdOptions, "etcd")


def _now() -> datetime:
    return datetime.now(UTC)


@app.command("plan")
def plan_command(
    *,
    config: ConfigOption,
    to: TargetOption,
    kms_endpoint: KmsEndpointOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show the stages of a rotation, the file each writes and the gate each waits for.

    Nothing is written and no cluster is asked. The keys are new on every run, so the hashes
    shown are this plan's; apply draws its own keys once and keeps them beside the config.
    Key values are never shown. Examples:

        sealbox rotate plan --config /etc/kubernetes/enc.yaml --to aesgcm

        sealbox rotate plan -c enc.yaml --to kms:vault \\
          --kms-endpoint unix:///var/run/kms.sock -o json
    """
    from sealbox.encryption import config_hash
    from sealbox.rotate import plan_rotation, staged_path

    text = _read(config)
    plan = plan_rotation(text, str(config), to, kms_endpoint=kms_endpoint, now=_now())
    stages: list[dict[str, str | None]] = []
    for stage in plan.stages:
        staged = None if stage.config is None else staged_path(config, stage.name)
        stages.append(
            {
                "name": stage.name,
                "summary": stage.summary,
                "file": None if staged is None else str(staged),
                "hash": None if stage.config is None else config_hash(stage.config),
                "gate": _GATES[stage.name],
            }
        )
    document = {
        "config": str(config),
        "target": plan.target,
        "old": plan.old,
        "new": plan.new,
        "entries": [f"resources[{index}]" for index in plan.entries],
        "resources": list(plan.resources),
        "stages": stages,
    }
    if output is not OutputFormat.table:
        emit(document, output)
        return
    console = stdout_console()
    console.print(f"rotate {escape(str(config))}: {escape(plan.old)} -> {escape(plan.new)}")
    console.print(f"covers: {escape(', '.join(plan.resources))}")
    rows = [
        [
            str(number),
            str(item["name"]),
            escape(str(item["summary"])),
            escape(item["file"] or "(no change)"),
            _short(item["hash"]),
            escape(str(item["gate"])),
        ]
        for number, item in enumerate(stages, 1)
    ]
    header = ["#", "stage", "what", "staged file", "hash", "gate"]
    rendered = table("Rotation plan", header, rows)
    for column in rendered.columns:
        column.overflow = "fold"
    console.print(rendered)


_GATES = {
    "add": "every apiserver has loaded this file",
    "promote": "every apiserver has loaded this file",
    "reencrypt": "every apiserver runs the promoted file; then every object is rewritten",
    "verify": "no stored value still uses the old key (etcd scan, else an API read of all)",
    "remove": "verify passed; then every apiserver has loaded this file",
}


@app.command("apply")
@with_rotate_etcd
@with_kube_options
def apply_command(
    *,
    config: ConfigOption,
    to: TargetOption,
    kms_endpoint: KmsEndpointOption = None,
    apiserver: Annotated[
        list[str] | None,
        typer.Option(
            "--apiserver",
            metavar="URL",
            help="An apiserver to wait for, e.g. https://10.0.0.11:6443 (repeatable); default: "
            "those of the kubernetes EndpointSlice.",
            show_default=False,
        ),
    ] = None,
    kube: KubeOptions,
    etcd: RotateEtcdOptions,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=256, help="Objects rewritten at once.")
    ] = 8,
    qps: Annotated[
        float, typer.Option("--qps", min=0.1, help="API requests a second, at most.")
    ] = 200.0,
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout", help="How long each stage waits for the apiservers, e.g. 15m; 10s-24h."
        ),
    ] = "15m",
    output: OutputOption = OutputFormat.table,
) -> None:
    """Run a rotation: every stage not done yet, each behind its gate.

    Progress goes to stderr: the stage, which apiservers lag and why (with automatic reload an
    apiserver re-reads its file about once a minute; without it, restart the ones named), and
    the re-encryption counts. Resumable: the state and the staged files (0600) sit beside the
    config, so after a crash or Ctrl-C run the same command again; a finished stage is skipped.
    At the end they are deleted; a backup of every replaced file stays. Examples:

        sealbox rotate apply --config /etc/kubernetes/enc.yaml --to aesgcm

        sealbox rotate apply -c enc.yaml --to aesgcm \\
          --apiserver https://10.0.0.11:6443 --apiserver https://10.0.0.12:6443

        sealbox rotate apply -c enc.yaml --to secretbox \\
          --endpoints https://10.0.0.11:2379 \\
          --cacert ca.crt --cert client.crt --key client.key
    """
    from sealbox.kube import apiserver_url, load_config
    from sealbox.rotate import apply_rotation, parse_target

    parse_target(to)
    seconds = _timeout(timeout)
    urls = [apiserver_url(value) for value in apiserver or ()]
    access = _etcd_access(etcd)
    _read(config)
    kube_config = load_config(kube.target())

    def report(line: str) -> None:
        typer.echo(line, err=True)

    outcome = asyncio.run(
        apply_rotation(
            config,
            to,
            kube=kube_config,
            report=report,
            kms_endpoint=kms_endpoint,
            apiservers=urls or None,
            etcd=access,
            concurrency=concurrency,
            qps=qps,
            timeout=seconds,
        )
    )
    if output is not OutputFormat.table:
        emit(outcome.as_dict(), output)
        return
    console = stdout_console()
    if outcome.already_complete:
        console.print(f"rotation to {escape(outcome.target)} was already complete")
        return
    ran = ", ".join(outcome.ran) or "none"
    console.print(f"rotated {escape(str(config))} to {escape(outcome.target)}; ran: {ran}")
    for backup in outcome.backups:
        console.print(f"backup: {escape(str(backup))}")


@app.command("status")
def status_command(*, config: ConfigOption, output: OutputOption = OutputFormat.table) -> None:
    """Show where a rotation of FILE stands: its target, the stages done, the next one.

    Reads only the files beside the config (no cluster asked): for each stage, whether it is
    done, its staged file and the config hash every apiserver must report. Example:

        sealbox rotate status --config /etc/kubernetes/enc.yaml -o json
    """
    from sealbox.rotate import rotation_status

    _read(config)  # a missing or unreadable config is refused naming --config, as plan/apply do
    view = rotation_status(config)
    if output is not OutputFormat.table:
        emit(view.as_dict(), output)
        return
    console = stdout_console()
    if not view.in_progress:
        console.print(
            f"no rotation in progress for {escape(str(config))} ({_short(view.current_hash)})"
        )
        last = view.completed
        if last is not None:
            since = "the file is unchanged since" if last.current else "the file changed since"
            console.print(
                f"last rotation: to {escape(last.target)} at {escape(last.finished)}; {since}"
            )
        return
    console.print(
        f"rotation of {escape(str(config))} to {escape(view.target or '')}: "
        f"next stage {view.next_stage or 'none (finished; run apply to clean up)'}"
    )
    rows = [
        [
            stage.name,
            "yes" if stage.done else "no",
            escape(str(stage.file) if stage.file else "(no change)")
            + ("" if stage.present or stage.file is None else " [red](missing)[/red]"),
            _short(stage.expected_hash),
        ]
        for stage in view.stages
    ]
    rendered = table("Rotation status", ["stage", "done", "staged file", "expected hash"], rows)
    for column in rendered.columns:
        column.overflow = "fold"
    console.print(rendered)


def _read(config: Path) -> str:
    """The config's text (ConfigError naming --config when it cannot be read)."""
    try:
        return config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(
            str(config), [ConfigIssue("--config", f"cannot read it: {why}")]
        ) from None


def _timeout(text: str) -> float:
    try:
        return duration_in_range(text.strip(), low="10s", high="24h", example="15m")
    except ValueError:
        problem = f"expected a duration between 10s and 24h such as 15m; got {text[:40]!r}"
        raise ConfigError("command line", [ConfigIssue("--timeout", problem)]) from None


def _etcd_access(options: RotateEtcdOptions) -> EtcdAccess | None:
    from sealbox.rotate import EtcdAccess
    from sealbox.storage.etcd import EtcdConfig, parse_endpoints

    if options.endpoints is None:
        given = [
            flag
            for flag, value in (("--cacert", options.cacert), ("--cert", options.cert))
            if value is not None
        ] + (["--key"] if options.key is not None else [])
        if given:
            raise InputError(
                f"{', '.join(given)} without --endpoints: name etcd's endpoints to rewrap and "
                "scan in etcd, or drop the etcd flags to go through the API"
            )
        return None
    config = EtcdConfig(
        endpoints=parse_endpoints(options.endpoints),
        cacert=options.cacert,
        cert=options.cert,
        key=options.key,
        timeout_seconds=options.etcd_timeout,
    )
    return EtcdAccess(config, options.prefix)


def _short(value: str | None) -> str:
    if not value:
        return "-"
    algorithm, _, digest = value.partition(":")
    return f"{algorithm}:{digest[:12]}" if digest else value
