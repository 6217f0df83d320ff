"""``sealbox kms``: run the KMS v2 plugin and manage its local keyring."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sealbox.errors import InputError

if TYPE_CHECKING:
    from sealbox.kms.plugin import PluginConfig

# The plugin's modules (pydantic models, backends, grpc server) load inside each command, so
# other commands do not pay for them at start-up.

__all__ = ["app"]

app = typer.Typer(
    help="Run the KMS v2 plugin kube-apiserver calls to encrypt Secrets at rest.",
    no_args_is_help=True,
)


@app.command()
def keygen(
    out: Path = typer.Option(..., "--out", help="Keyring file to create (mode 0600)."),
) -> None:
    """Create a local keyring with one fresh 256-bit KEK.

    Refuses to overwrite an existing file. Prints the new key_id (a one-way hash, not the key).
    Example: sealbox kms keygen --out /etc/sealbox/kek.key
    """
    from sealbox.kms.backends.local import create_keyring

    typer.echo(create_keyring(out))


@app.command("rotate-key")
def rotate_key(
    key_file: Path | None = typer.Option(
        None, "--key-file", help="The local keyring to add a KEK to."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="A plugin.yaml: rotate its primary backend (local, pkcs11)."
    ),
) -> None:
    """Create a new KEK; it encrypts from now on, older ones still decrypt. Prints the key_id.

    A running plugin picks the new key up at its next health probe (pkcs11: within
    rescanInterval) and reports a new key_id, so kube-apiserver re-seeds. Re-encrypt old data
    afterwards with 'sealbox etcd rewrap'. Vault and AWS KMS keys rotate in those services
    (transit rotate; a new key behind the alias).
    """
    from sealbox.kms.backends.local import add_key
    from sealbox.kms.plugin import load_plugin_config

    if (key_file is None) == (config is None):
        raise InputError("give exactly one of --key-file (local keyring) or --config plugin.yaml")
    if key_file is not None:
        typer.echo(add_key(key_file))
        return
    assert config is not None
    plugin = load_plugin_config(config)
    primary = plugin.primary
    if not primary.rotates_here:
        raise InputError(
            f"backends.primary is {primary.type}: rotate the key in {primary.type} itself; the "
            "plugin follows its key_id at the next probe"
        )
    typer.echo(primary.rotate(plugin.base_dir))


@app.command()
def serve(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="A plugin.yaml (KMSPluginConfiguration); see docs."
    ),
    socket: str | None = typer.Option(
        None, "--socket", help="Unix socket to listen on (or @name for an abstract socket)."
    ),
    backend: str = typer.Option("local", "--backend", help="Backend without --config: local."),
    key_file: Path | None = typer.Option(
        None, "--key-file", help="Local keyring (from 'sealbox kms keygen') for --backend local."
    ),
    metrics_address: str | None = typer.Option(
        None, "--metrics-address", help="Serve /metrics /healthz /livez /readyz on host:port."
    ),
    probe_interval: float | None = typer.Option(
        None,
        "--probe-interval",
        help="Seconds between backend health probes (default 30).",
        show_default=False,
    ),
    v1beta1: bool = typer.Option(False, "--v1beta1", help="Also serve the deprecated KMS v1."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Serve the KMS v2 API on a unix socket until SIGTERM.

    Quick start:  sealbox kms keygen --out kek.key
                  sealbox kms serve --socket /var/run/sealbox/kms.sock --key-file kek.key

    Point kube-apiserver at it with a kms provider: apiVersion v2, endpoint
    unix:///var/run/sealbox/kms.sock. For PKCS#11, Vault/OpenBao or AWS KMS, and for several
    backends at once, use --config plugin.yaml.
    """
    from sealbox.kms.plugin import load_plugin_config
    from sealbox.logs import configure_logging

    configure_logging(log_level)
    plugin = (
        _from_flags(socket, backend, key_file, metrics_address, probe_interval, v1beta1)
        if config is None
        else load_plugin_config(config)
    )
    from sealbox.kms.plugin import serve as run_server

    asyncio.run(run_server(plugin))


def _from_flags(
    socket: str | None,
    backend: str,
    key_file: Path | None,
    metrics_address: str | None,
    probe_interval: float | None,
    v1beta1: bool,
) -> PluginConfig:
    from sealbox.kms.backends import configure_backend
    from sealbox.kms.plugin import DEFAULT_PROBE_INTERVAL_SECONDS, PluginConfig

    if socket is None:
        raise InputError("--socket is required without --config")
    if backend != "local":
        raise InputError(f"--backend {backend}: use --config plugin.yaml for this backend")
    if key_file is None:
        raise InputError("--key-file is required with --backend local (create one: kms keygen)")
    return PluginConfig(
        socket=socket,
        primary=configure_backend({"type": "local", "keyFile": str(key_file.resolve())}),
        metrics_address=metrics_address,
        probe_interval_seconds=(
            DEFAULT_PROBE_INTERVAL_SECONDS if probe_interval is None else probe_interval
        ),
        serve_v1beta1=v1beta1,
    )
