"""``sealbox kms``: run the KMS v2 plugin and manage its local keyring."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path

import typer

from sealbox.errors import InputError

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


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.command()
def serve(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="A plugin.yaml (KMSPluginConfiguration); see docs."
    ),
    socket: str | None = typer.Option(
        None,
        "--socket",
        help="Absolute path of the unix socket to listen on (or @name for an abstract socket). "
        "Overrides the file's socket with --config.",
    ),
    backend: str = typer.Option(
        "local", "--backend", help="Backend without --config: local (others need --config)."
    ),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="Local keyring (from 'sealbox kms keygen') for --backend local, without --config.",
    ),
    metrics_address: str | None = typer.Option(
        None,
        "--metrics-address",
        help="Serve /metrics /healthz /livez /readyz on host:port. Overrides the file's.",
    ),
    probe_interval: str | None = typer.Option(
        None,
        "--probe-interval",
        help="Time between backend health probes, e.g. 30s or 30 (seconds); 50ms to 1h "
        "(default 30s). Overrides the file's healthProbeInterval.",
        show_default=False,
    ),
    v1beta1: bool | None = typer.Option(
        None,
        "--v1beta1/--no-v1beta1",
        help="Also serve the deprecated KMS v1 API (default: no). Overrides the file's.",
        show_default=False,
    ),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="Log level."),
) -> None:
    """Serve the KMS v2 API on a unix socket until SIGTERM.

    Quick start:  sealbox kms keygen --key-file kek.key
                  sealbox kms serve --socket /var/run/sealbox/kms.sock --key-file kek.key

    Point kube-apiserver at it with a kms provider: apiVersion v2, endpoint
    unix:///var/run/sealbox/kms.sock. For PKCS#11, Vault/OpenBao or AWS KMS, and for several
    backends at once, use --config plugin.yaml; flags given with it (--socket,
    --metrics-address, --probe-interval, --v1beta1) win over the file's fields.
    """
    from sealbox.kms.plugin import ServeFlags, config_from_flags
    from sealbox.kms.plugin import serve as run_server
    from sealbox.logs import configure_logging

    if backend != "local":
        raise InputError(
            f"--backend {backend}: only local works with flags; describe a {backend} backend "
            "in plugin.yaml and pass --config"
        )
    flags = ServeFlags(
        socket=socket,
        key_file=key_file,
        metrics_address=metrics_address,
        probe_interval=probe_interval,
        v1beta1=v1beta1,
    )
    plugin = config_from_flags(flags, config)  # everything is checked before logging starts
    configure_logging(log_level.value)
    asyncio.run(run_server(plugin))
