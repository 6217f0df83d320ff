"""Options every etcd-facing command shares: where etcd is, and its client certificate."""

from __future__ import annotations

from pathlib import Path

import typer

from sealbox.storage.etcd import EtcdConfig, parse_endpoints

__all__ = ["CACERT", "CERT", "ENDPOINTS", "KEY", "TIMEOUT", "etcd_config"]

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
