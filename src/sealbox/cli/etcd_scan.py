"""``sealbox etcd scan``: is every object in etcd encrypted, and with which key?"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli import etcd_options as shared
from sealbox.errors import InputError
from sealbox.ops import ScannedObject, ScanSummary, scan, scan_prefixes
from sealbox.render import OutputFormat, emit, print_scan_table

__all__ = ["FailOn", "scan_command"]


class FailOn(StrEnum):
    plaintext = "plaintext"
    stale = "stale"
    undecryptable = "undecryptable"


@shared.with_etcd_options
def scan_command(
    *,
    etcd: shared.EtcdOptions,
    resource: Annotated[
        list[str] | None,
        shared.resources_option("Only these resources, e.g. -r secrets -r configmaps."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="The apiserver's EncryptionConfiguration: also decrypt every value (KMS plugins "
            "it names must be reachable) and report which are stale.",
        ),
    ] = None,
    output: shared.OutputOption = OutputFormat.table,
    fail_on: Annotated[
        list[FailOn] | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 if any object is plaintext, stale (needs --config) or "
            "undecryptable (needs --config). Repeatable; for CI gates.",
        ),
    ] = None,
) -> None:
    """Classify every value under the prefix: provider and key name. Never prints a value.

    Examples:

        sealbox etcd scan --endpoints https://127.0.0.1:2379 --cacert ca.crt \\
            --cert apiserver-etcd-client.crt --key apiserver-etcd-client.key

        sealbox etcd scan -r secrets -c encryption-config.yaml --fail-on plaintext --fail-on stale
    """
    resources = shared.split_resources(resource)
    gates = set(fail_on or ())
    if {FailOn.stale, FailOn.undecryptable} & gates and config is None:
        raise InputError("--fail-on stale/undecryptable needs --config to decrypt the values")
    summary = ScanSummary()
    with shared.open_etcd(etcd, config) as (client, transformers):
        prefixes = scan_prefixes(etcd.prefix, resources)
        with shared.progress_bar(client, prefixes, "scanning") as advance:
            items = scan(
                client,
                prefixes,
                etcd_prefix=etcd.prefix,
                transformers=transformers,
                summary=summary,
                on_object=None if advance is None else (lambda _item: advance(1)),
            )
            _render(items, summary, output, verified=config is not None)
    failed = (
        (FailOn.plaintext in gates and summary.by_provider["identity"] > 0)
        or (FailOn.stale in gates and summary.stale > 0)
        or (FailOn.undecryptable in gates and summary.undecryptable > 0)
    )
    if failed:
        raise typer.Exit(1)


def _render(
    items: Iterator[ScannedObject],
    summary: ScanSummary,
    output: OutputFormat,
    *,
    verified: bool,
) -> None:
    if output is OutputFormat.json:
        _stream_json(items, summary)
        return
    if output is OutputFormat.yaml:
        objects = [item.as_dict() for item in items]
        emit({**summary.as_dict(), "objects": objects}, output)
        return
    for _ in items:
        pass
    print_scan_table(summary, verified=verified)


def _stream_json(items: Iterator[ScannedObject], summary: ScanSummary) -> None:
    """Objects stream out as they are scanned, so memory does not grow with the keyspace."""
    out = sys.stdout
    out.write('{\n  "objects": [')
    for index, item in enumerate(items):
        out.write(("," if index else "") + "\n    " + json.dumps(item.as_dict()))
    out.write("\n  ],\n")
    document = summary.as_dict()
    out.write(f'  "total": {json.dumps(document["total"])},\n')
    out.write(f'  "byProvider": {json.dumps(document["byProvider"])}\n}}\n')
