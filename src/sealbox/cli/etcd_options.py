"""What every etcd-facing command shares: where etcd is, its client certificate, which
resources to walk, and a progress bar for long walks."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sealbox import render
from sealbox.storage.etcd import EtcdClient, EtcdConfig, parse_endpoints

__all__ = [
    "CACERT",
    "CERT",
    "ENDPOINTS",
    "KEY",
    "TIMEOUT",
    "etcd_config",
    "progress_bar",
    "split_resources",
]

ENDPOINTS = typer.Option(
    "http://127.0.0.1:2379",
    "--endpoints",
    help="Comma-separated etcd endpoints, e.g. https://10.0.0.1:2379,https://10.0.0.2:2379.",
)
CACERT = typer.Option(None, "--cacert", help="CA bundle that signed etcd's serving cert.")
CERT = typer.Option(None, "--cert", help="Client certificate (control planes require one).")
KEY = typer.Option(None, "--key", help="Client certificate's private key.")
TIMEOUT = typer.Option(5.0, "--timeout", help="Seconds per etcd call and endpoint.")


def etcd_config(
    endpoints: str, cacert: Path | None, cert: Path | None, key: Path | None, timeout: float
) -> EtcdConfig:
    """Raises InputError naming the bad option."""
    return EtcdConfig(
        endpoints=parse_endpoints(endpoints),
        cacert=cacert,
        cert=cert,
        key=key,
        timeout_seconds=timeout,
    )


def split_resources(values: list[str]) -> list[str]:
    """``-r secrets -r configmaps,widgets.x.io`` -> each resource once, in order given."""
    return [part.strip() for item in values for part in item.split(",") if part.strip()]


@contextmanager
def progress_bar(
    client: EtcdClient, prefixes: list[bytes], label: str
) -> Iterator[Callable[[int], None] | None]:
    """A bar on stderr when it is a terminal (nothing otherwise); call the result per key."""
    if not sys.stderr.isatty():
        yield None
        return
    total = sum(client.count_prefix(p) for p in prefixes)
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=render.stderr_console(), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda count: progress.advance(task, count)
