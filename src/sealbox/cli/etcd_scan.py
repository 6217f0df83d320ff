"""``sealbox etcd scan``: is every object in etcd encrypted, and with which key?"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from enum import StrEnum
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
from sealbox.errors import InputError
from sealbox.kms.client import GrpcConnector
from sealbox.ops.scan import ScannedObject, ScanSummary, scan, scan_prefixes
from sealbox.storage.etcd import EtcdClient

__all__ = ["FailOn", "print_scan_table", "scan_command"]


class FailOn(StrEnum):
    plaintext = "plaintext"
    stale = "stale"
    undecryptable = "undecryptable"


def scan_command(
    endpoints: str = ENDPOINTS,
    cacert: Path | None = CACERT,
    cert: Path | None = CERT,
    key: Path | None = KEY,
    timeout: float = TIMEOUT,
    prefix: str = typer.Option("/registry", "--prefix", help="The apiserver's --etcd-prefix."),
    resource: list[str] = typer.Option(
        [], "--resource", "-r", help="Only these resources, e.g. -r secrets -r configmaps."
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="The apiserver's EncryptionConfiguration: also decrypt every value (KMS plugins it "
        "names must be reachable) and report which are stale.",
    ),
    output: render.OutputFormat = typer.Option(
        render.OutputFormat.table, "--output", "-o", help="table (default), json or yaml."
    ),
    fail_on: list[FailOn] = typer.Option(
        [],
        "--fail-on",
        help="Exit 1 if any object is plaintext, stale (needs --config) or "
        "undecryptable (needs --config). Repeatable; for CI gates.",
    ),
) -> None:
    """Classify every value under the prefix: provider and key name. Never prints a value.

    Examples:

        sealbox etcd scan --endpoints https://127.0.0.1:2379 --cacert ca.crt \\
            --cert apiserver-etcd-client.crt --key apiserver-etcd-client.key

        sealbox etcd scan -r secrets -c encryption-config.yaml --fail-on plaintext --fail-on stale
    """
    resources = split_resources(resource)
    if {FailOn.stale, FailOn.undecryptable} & set(fail_on) and config is None:
        raise InputError("--fail-on stale/undecryptable needs --config to decrypt the values")
    summary = ScanSummary()
    with ExitStack() as stack:
        client = stack.enter_context(EtcdClient(etcd_config(endpoints, cacert, cert, key, timeout)))
        transformers = None
        if config is not None:
            connector = stack.enter_context(GrpcConnector())
            transformers = StorageTransformers(load_config(config), connector, etcd_prefix=prefix)
        prefixes = scan_prefixes(prefix, resources)
        with progress_bar(client, prefixes, "scanning") as advance:
            items = scan(
                client,
                prefixes,
                etcd_prefix=prefix,
                transformers=transformers,
                summary=summary,
                on_object=None if advance is None else (lambda _item: advance(1)),
            )
            _render(items, summary, output, verified=config is not None)
    failed = (
        (FailOn.plaintext in fail_on and summary.by_provider["identity"] > 0)
        or (FailOn.stale in fail_on and summary.stale > 0)
        or (FailOn.undecryptable in fail_on and summary.undecryptable > 0)
    )
    if failed:
        raise typer.Exit(1)


def _render(
    items: Iterator[ScannedObject],
    summary: ScanSummary,
    output: render.OutputFormat,
    *,
    verified: bool,
) -> None:
    if output is render.OutputFormat.json:
        _stream_json(items, summary)
        return
    if output is render.OutputFormat.yaml:
        objects = [item.as_dict() for item in items]
        render.emit({**summary.as_dict(), "objects": objects}, output)
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


def print_scan_table(summary: ScanSummary, *, verified: bool) -> None:
    rows = [
        [resource or "(other)", provider, key_name or "-", count]
        for (resource, provider, key_name), count in sorted(summary.by_resource.items())
    ]
    console = render.stdout_console()
    console.print(
        render.table(
            "Objects by resource, provider and key",
            ["resource", "provider", "key", "objects"],
            rows,
        )
    )
    totals = ", ".join(f"{p}: {n}" for p, n in sorted(summary.by_provider.items()))
    console.print(f"total {summary.total} ({totals or 'nothing found'})")
    if verified:
        console.print(f"stale {summary.stale}, undecryptable {summary.undecryptable}")
