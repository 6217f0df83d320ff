"""``sealbox etcd scan``: is every object in etcd encrypted, and with which key?"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from sealbox.cli import etcd_options as shared
from sealbox.ops import FailOn, Gate, ScannedObject, ScanSummary, Verdict, scan, scan_prefixes
from sealbox.render import OutputFormat, emit, print_scan_table, stderr_console, stdout_console
from sealbox.words import plural

__all__ = ["scan_command"]


@shared.with_etcd_options
def scan_command(
    *,
    etcd: shared.EtcdOptions,
    resource: Annotated[
        list[str] | None,
        shared.resources_option(
            "Only these resources, e.g. -r secrets -r configmaps (a misspelt name is an error)."
        ),
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
            "undecryptable (needs --config), or if the scan found no keys. Repeatable; prints "
            "PASSED or FAILED and why on stderr. For CI gates.",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="With --fail-on: pass when there is nothing to check (no keys under a prefix).",
        ),
    ] = False,
) -> None:
    """Classify every value under the prefix: provider and key name. Never prints a value.

    Examples:

        sealbox etcd scan --endpoints https://127.0.0.1:2379 --cacert ca.crt \\
            --cert apiserver-etcd-client.crt --key apiserver-etcd-client.key

        sealbox etcd scan -r secrets -c encryption-config.yaml \\
            --fail-on plaintext --fail-on stale
    """
    prefixes = scan_prefixes(etcd.prefix, shared.split_resources(resource))
    gate = None
    if fail_on:
        gate = Gate.of(fail_on, allow_empty=allow_empty, decrypting=config is not None)
    summary = ScanSummary()
    with (
        shared.open_etcd(etcd, config) as (client, transformers),
        shared.progress_bar(client, prefixes, "scanning") as advance,
    ):
        items = scan(
            client,
            prefixes,
            etcd_prefix=etcd.prefix,
            transformers=transformers,
            summary=summary,
            on_object=_per_object(gate, advance),
        )
        verdict = _render(items, summary, output, gate)
    shared.warn_no_keys(summary.empty_prefixes)
    if verdict is not None:
        stderr_console().print(verdict.line(), markup=False, highlight=False)
        if not verdict.passed:
            raise typer.Exit(1)


def _per_object(
    gate: Gate | None, advance: Callable[[int], None] | None
) -> Callable[[ScannedObject], None] | None:
    if advance is None:
        return None if gate is None else gate.check
    step = advance
    if gate is None:
        return lambda _item: step(1)
    check = gate.check

    def both(item: ScannedObject) -> None:
        check(item)
        step(1)

    return both


def _render(
    items: Iterator[ScannedObject], summary: ScanSummary, output: OutputFormat, gate: Gate | None
) -> Verdict | None:
    """Write the scan in ``output`` and return the gate's verdict (None without a gate)."""
    if output is OutputFormat.json:
        return _stream_json(items, summary, gate)
    if output is OutputFormat.yaml:
        objects = [item.as_dict() for item in items]
        verdict = None if gate is None else gate.verdict(summary)
        emit({"objects": objects, **_totals(summary, verdict)}, output)
        return verdict
    for _ in items:
        pass
    verdict = None if gate is None else gate.verdict(summary)
    print_scan_table(summary, verified=summary.verified)
    if verdict is not None and verdict.failures:
        _print_failures(verdict)
    return verdict


def _totals(summary: ScanSummary, verdict: Verdict | None) -> dict[str, Any]:
    return {**summary.as_dict(), "verdict": None if verdict is None else verdict.as_dict()}


def _stream_json(
    items: Iterator[ScannedObject], summary: ScanSummary, gate: Gate | None
) -> Verdict | None:
    """Objects stream out as they are scanned, so memory does not grow with the keyspace."""
    out = sys.stdout
    out.write('{\n  "objects": [')
    for index, item in enumerate(items):
        out.write(("," if index else "") + "\n    " + json.dumps(item.as_dict()))
    out.write("\n  ]")
    verdict = None if gate is None else gate.verdict(summary)
    for name, value in _totals(summary, verdict).items():
        out.write(f",\n  {json.dumps(name)}: {json.dumps(value)}")
    out.write("\n}\n")
    return verdict


def _print_failures(verdict: Verdict) -> None:
    """One line per key (never wrapped, so it can be copied): the condition, the key, why."""
    console = stdout_console()
    console.print("Keys that fail the gate:")
    width = max(len(failure.fail_on) for failure in verdict.failures)
    for failure in verdict.failures:
        console.print(
            f"  {failure.fail_on:<{width}}  {failure.key}: {failure.reason}",
            markup=False,
            highlight=False,
        )
    if verdict.unlisted:
        console.print(
            f"... and {plural(verdict.unlisted, 'more failure')} (-o json lists every object)"
        )
