"""``sealbox etcd rewrap``: re-encrypt stale values in place, safely, after a key change."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import typer

from sealbox import render
from sealbox.cli.etcd_options import (
    CACERT,
    CERT,
    ENDPOINTS,
    KEY,
    TIMEOUT,
    etcd_config,
    progress_bar,
    split_resources,
)
from sealbox.encryption.config import load_config
from sealbox.encryption.transformers import StorageTransformers
from sealbox.kms.client import GrpcConnector
from sealbox.ops.rewrap import RewrapOptions, RewrapSummary, check_write_providers, rewrap
from sealbox.ops.scan import scan_prefixes
from sealbox.storage.etcd import MAX_TXN_OPS, EtcdClient

__all__ = ["rewrap_command"]


def rewrap_command(
    config: Path = typer.Option(
        ...,
        "--config",
        "-c",
        help="The apiserver's EncryptionConfiguration, with the provider to move to listed "
        "first; KMS plugins it names must be running.",
    ),
    apply: bool = typer.Option(
        False, "--apply/--dry-run", help="Write the changes (default: only show what would change)."
    ),
    allow_plaintext: bool = typer.Option(
        False,
        "--allow-plaintext",
        help="Allow an entry whose first provider is identity (this decrypts data on purpose).",
    ),
    start_after: str | None = typer.Option(
        None, "--start-after", help="Resume after this etcd key (printed by an earlier run)."
    ),
    batch_size: int = typer.Option(
        MAX_TXN_OPS, "--batch-size", min=1, max=MAX_TXN_OPS, help="Keys per etcd transaction."
    ),
    endpoints: str = ENDPOINTS,
    cacert: Path | None = CACERT,
    cert: Path | None = CERT,
    key: Path | None = KEY,
    timeout: float = TIMEOUT,
    prefix: str = typer.Option("/registry", "--prefix", help="The apiserver's --etcd-prefix."),
    resource: list[str] = typer.Option(
        [], "--resource", "-r", help="Only these resources (default: everything configured)."
    ),
    output: render.OutputFormat = typer.Option(
        render.OutputFormat.table, "--output", "-o", help="table (default), json or yaml."
    ),
) -> None:
    """Re-encrypt every value not written by the config's first provider and key.

    Each value is read through the full provider chain and written back with the first
    provider in an etcd transaction that checks it did not change meanwhile, so no concurrent
    write is ever overwritten; changed keys are re-read and retried. Safe to interrupt and rerun
    (--start-after resumes). A dry run by default:

        sealbox etcd rewrap -c encryption-config.yaml               # what would change
        sealbox etcd rewrap -c encryption-config.yaml --apply       # do it
    """
    encryption = load_config(config)
    check_write_providers(encryption, allow_plaintext=allow_plaintext)
    resources = split_resources(resource)
    options = RewrapOptions(
        dry_run=not apply,
        batch_size=batch_size,
        start_after=start_after.encode() if start_after else None,
        etcd_prefix=prefix,
    )
    summary = RewrapSummary(dry_run=not apply)
    with ExitStack() as stack:
        client = stack.enter_context(EtcdClient(etcd_config(endpoints, cacert, cert, key, timeout)))
        connector = stack.enter_context(GrpcConnector())
        transformers = StorageTransformers(encryption, connector, etcd_prefix=prefix)
        prefixes = scan_prefixes(prefix, resources)
        try:
            with progress_bar(client, prefixes, "rewrapping") as advance:
                rewrap(client, prefixes, transformers, options, summary, on_examined=advance)
        except BaseException:
            _report(summary, render.OutputFormat.table, interrupted=True)
            raise
    _report(summary, output, interrupted=False)
    if summary.failed:
        raise typer.Exit(1)


def _report(summary: RewrapSummary, output: render.OutputFormat, *, interrupted: bool) -> None:
    if output is not render.OutputFormat.table:
        render.emit(summary.as_dict(), output)
        return
    console = render.stderr_console() if interrupted else render.stdout_console()
    verb = "would rewrite" if summary.dry_run else "rewrote"
    console.print(
        f"{'interrupted: ' if interrupted else ''}examined {summary.examined}, {verb} "
        f"{summary.rewritten}, already current {summary.current}, "
        f"conflicts retried {summary.conflicts}, failed {len(summary.failed)}"
    )
    for failed_key, reason in summary.failed:
        console.print(f"  failed {failed_key}: {reason}", markup=False, highlight=False)
    if summary.last_key is not None:
        console.print(
            f"last key done: {summary.last_key} (resume with --start-after {summary.last_key})",
            markup=False,
            highlight=False,
        )
    if summary.dry_run and summary.rewritten:
        console.print("dry run: nothing was written; run again with --apply")
