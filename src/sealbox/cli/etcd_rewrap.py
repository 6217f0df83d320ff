"""``sealbox etcd rewrap``: re-encrypt stale values in place, safely, after a key change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli import etcd_options as shared
from sealbox.encryption import load_config
from sealbox.ops import (
    RewrapOptions,
    RewrapSummary,
    check_write_providers,
    config_prefixes,
    rewrap,
)
from sealbox.render import OutputFormat, emit, stderr_console, stdout_console
from sealbox.storage import MAX_TXN_OPS
from sealbox.words import plural

__all__ = ["rewrap_command"]


@shared.with_etcd_options
def rewrap_command(
    *,
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="The apiserver's EncryptionConfiguration, with the provider to move to listed "
            "first; KMS plugins it names must be running.",
        ),
    ],
    apply: Annotated[
        bool,
        typer.Option(
            "--apply/--dry-run", help="Write the changes (default: only show what would change)."
        ),
    ] = False,
    allow_plaintext: Annotated[
        bool,
        typer.Option(
            "--allow-plaintext",
            help="Allow an entry whose first provider is identity (this decrypts data on purpose).",
        ),
    ] = False,
    start_after: Annotated[
        str | None, shared.start_after_option("the keys up to it are not read again")
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=MAX_TXN_OPS, help="Keys per etcd transaction."),
    ] = MAX_TXN_OPS,
    etcd: shared.EtcdOptions,
    resource: Annotated[
        list[str] | None,
        shared.resources_option(
            "Only these resources (default: those the config's entries cover; each named must "
            "be covered)."
        ),
    ] = None,
    all_resources: Annotated[
        bool,
        typer.Option(
            "--all-resources",
            help="Walk everything under --prefix (every Event and Lease too), not only the "
            "resources the config covers.",
        ),
    ] = False,
    output: shared.OutputOption = OutputFormat.table,
) -> None:
    """Re-encrypt every value not written by the config's first provider and key.

    Each value is read through the full provider chain and written back with the first
    provider in an etcd transaction that checks it did not change meanwhile, so no concurrent
    write is ever overwritten; changed keys are re-read and retried. Safe to interrupt and rerun
    (--start-after resumes). Only the resources the config's entries cover are read (a wildcard
    entry walks what it matches; *.* the whole prefix); the summary says which prefixes.
    A dry run by default:

        sealbox etcd rewrap -c encryption-config.yaml          # what would change

        sealbox etcd rewrap -c encryption-config.yaml --apply  # do it
    """
    encryption = load_config(config)
    check_write_providers(encryption, allow_plaintext=allow_plaintext)
    prefixes = config_prefixes(
        encryption, etcd.prefix, shared.split_resources(resource), all_resources=all_resources
    )
    options = RewrapOptions(
        dry_run=not apply,
        batch_size=batch_size,
        start_after=start_after.encode() if start_after else None,
        etcd_prefix=etcd.prefix,
    )
    summary = RewrapSummary(dry_run=not apply)
    with shared.open_etcd(etcd, encryption) as (client, transformers):
        try:
            with shared.progress_bar(client, prefixes, "rewrapping") as advance:
                rewrap(
                    client,
                    prefixes,
                    transformers,
                    options,
                    summary=summary,
                    on_examined=advance,
                )
        except BaseException:
            _report(summary, OutputFormat.table, interrupted=True)
            raise
    _report(summary, output, interrupted=False)
    if not summary.examined:
        shared.warn_no_keys(summary.prefixes)
    if summary.failed:
        raise typer.Exit(1)


def _report(summary: RewrapSummary, output: OutputFormat, *, interrupted: bool) -> None:
    if output is not OutputFormat.table:
        emit(summary.as_dict(), output)
        return
    console = stderr_console() if interrupted else stdout_console()
    verb = "would rewrite" if summary.dry_run else "rewrote"
    console.print(
        f"walked {', '.join(summary.prefixes) or 'nothing'}", markup=False, highlight=False
    )
    console.print(
        f"{'interrupted: ' if interrupted else ''}examined {plural(summary.examined, 'object')}, "
        f"{verb} {summary.rewritten}, already current {summary.current}, "
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
