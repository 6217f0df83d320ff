"""``sealbox kms``: run the KMS v2 plugin, check a running one, and manage the local keyring.

Flags follow the whole CLI's convention: a file a command creates or uses as a key is
``--key-file``; ``-o/--output`` is always the output format (``table``, the default, prints the
plain result; ``json`` and ``yaml`` print a document).
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from sealbox.duration import duration_in_range
from sealbox.errors import ConfigError, ConfigIssue, InputError
from sealbox.kms import check_socket_path, key_id_hash
from sealbox.render import OutputFormat, emit, stdout_console, table

if TYPE_CHECKING:
    from sealbox.kms.client import PluginCheck  # only named in a signature: grpc loads lazily

# The plugin's modules (pydantic models, backends, grpc server) load inside each command, so
# other commands do not pay for them at start-up.

__all__ = ["app"]

app = typer.Typer(
    help="Run the KMS v2 plugin kube-apiserver calls to encrypt Secrets at rest, check a running "
    "one, and manage its keys.",
    no_args_is_help=True,
)

OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="table (default: the plain result), json or yaml."),
]


def _paragraphs(*parts: str) -> str:
    return "\n\n".join(parts)


def _print_key(key_id: str, output: OutputFormat, **where: str) -> None:
    """A new key_id: alone on a line (table), or with its hash and where it lives."""
    if output is OutputFormat.table:
        typer.echo(key_id)
        return
    emit({**where, "keyId": key_id, "keyIdHash": key_id_hash(key_id)}, output)


@app.command(
    help=_paragraphs(
        "Create a local keyring with one fresh 256-bit KEK (mode 0600).",
        "Refuses to overwrite an existing file. Prints the new key_id (a one-way hash, not the "
        "key). Example:",
        "sealbox kms keygen --key-file /etc/sealbox/kek.key",
    )
)
def keygen(
    key_file: Path | None = typer.Option(
        None, "--key-file", help="The keyring file to create (mode 0600).", show_default=False
    ),
    out: Path | None = typer.Option(None, "--out", hidden=True, help="Old name of --key-file."),
    output: OutputOption = OutputFormat.table,
) -> None:
    from sealbox.kms.backends.local import create_keyring

    if key_file is not None and out is not None and key_file != out:
        raise InputError("--key-file and --out (its old name) disagree; give --key-file only")
    path = key_file or out
    if path is None:
        raise InputError(
            "--key-file is required: the keyring file to create, e.g. sealbox kms keygen "
            "--key-file /etc/sealbox/kek.key"
        )
    _print_key(create_keyring(path), output, keyFile=str(path))


@app.command(
    "rotate-key",
    help=_paragraphs(
        "Create a new KEK; it encrypts from now on, older ones still decrypt. Prints the new "
        "key_id.",
        "A running plugin picks the new key up at its next health probe (pkcs11: within "
        "rescanInterval) and reports a new key_id, so kube-apiserver re-seeds. Re-encrypt old "
        "data afterwards with 'sealbox etcd rewrap'. Vault and AWS KMS keys rotate in those "
        "services (transit rotate; a new key behind the alias). Examples:",
        "sealbox kms rotate-key --key-file /etc/sealbox/kek.key",
        "sealbox kms rotate-key --config /etc/sealbox/plugin.yaml -o json",
    ),
)
def rotate_key(
    key_file: Path | None = typer.Option(
        None, "--key-file", help="The local keyring to add a KEK to."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="A plugin.yaml: rotate its primary backend (local, pkcs11)."
    ),
    output: OutputOption = OutputFormat.table,
) -> None:
    from sealbox.kms.backends.local import add_key
    from sealbox.kms.plugin import load_plugin_config

    if (key_file is None) == (config is None):
        raise InputError("give exactly one of --key-file (local keyring) or --config plugin.yaml")
    if key_file is not None:
        _print_key(add_key(key_file), output, keyFile=str(key_file), backend="local")
        return
    assert config is not None
    plugin = load_plugin_config(config)
    primary = plugin.primary
    if not primary.rotates_here:
        raise InputError(
            f"backends.primary is {primary.type}: rotate the key in {primary.type} itself; the "
            "plugin follows its key_id at the next probe"
        )
    key_id = primary.rotate(plugin.base_dir)
    _print_key(key_id, output, config=str(config), backend=primary.type)


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.command(
    help=_paragraphs(
        "Serve the KMS v2 API on a unix socket until SIGTERM.",
        "Point kube-apiserver at it with a kms provider: apiVersion v2, endpoint "
        "unix:///var/run/sealbox/kms.sock. For PKCS#11, Vault/OpenBao or AWS KMS, and for "
        "several backends at once, use --config plugin.yaml; flags given with it (--socket, "
        "--metrics-address, --probe-interval, --v1beta1) win over the file's fields. Examples:",
        "sealbox kms serve --socket /var/run/sealbox/kms.sock --key-file kek.key",
        "sealbox kms serve --config /etc/sealbox/plugin.yaml",
    )
)
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


@app.command(
    help=_paragraphs(
        "Check a running KMS v2 plugin as kube-apiserver uses it: Status, then a real Encrypt "
        "and Decrypt of a random seed, each call with --timeout as its deadline. Works with any "
        "KMS v2 plugin, not only Sealbox's.",
        "Healthy means: Status answers version v2 (or v2beta1), healthz ok and a valid key_id; "
        "Encrypt answers within the API's limits under that key_id; Decrypt gives the seed "
        "back. Nothing secret is printed: no seed, no ciphertext, and key_ids only as their "
        "sha256 hash (kube-apiserver's form).",
        "Exits 0 when healthy, 1 when not (the table or document says why), 2 for bad input. "
        "Examples:",
        "sealbox kms status --socket /var/run/sealbox/kms.sock",
        "sealbox kms status --socket @sealbox-kms --timeout 1s -o json",
    )
)
def status(
    socket: str = typer.Option(
        ...,
        "--socket",
        help="The plugin's unix socket: an absolute path, or @name for an abstract socket.",
        show_default=False,
    ),
    timeout: str = typer.Option(
        "3s",
        "--timeout",
        help="Deadline of each call, e.g. 3s (kube-apiserver's default) or 500ms; a bare number "
        "is seconds. 10ms to 5m.",
    ),
    output: OutputOption = OutputFormat.table,
) -> None:
    from sealbox.kms.client import check_plugin

    try:
        check_socket_path(socket)
    except ValueError as exc:
        raise ConfigError("command line", [ConfigIssue("--socket", str(exc))]) from None
    result = check_plugin(socket, timeout=_seconds(timeout))
    if output is OutputFormat.table:
        _print_check(result)
    else:
        emit(result.as_dict(), output)
    if not result.healthy:
        raise typer.Exit(1)


def _seconds(text: str) -> float:
    """``--timeout``: a Go duration (``3s``) or a bare number of seconds, 10ms to 5m."""
    value = text.strip()
    try:
        float(value)
    except ValueError:
        pass
    else:
        value += "s"
    try:
        return duration_in_range(value, low="10ms", high="5m", example="3s")
    except ValueError:
        problem = (
            "expected a duration between 10ms and 5m such as 3s or 500ms (a bare number is "
            f"seconds); got {text[:40]!r}"
        )
        raise ConfigError("command line", [ConfigIssue("--timeout", problem)]) from None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _print_check(result: PluginCheck) -> None:
    rows: list[list[Any]] = [
        ["socket", result.socket],
        ["version", result.version or "-"],
        ["healthz", result.healthz or "-"],
        ["key_id", result.key_id_hash or "-"],
        ["Status", _ms(result.status_ms)],
        ["Encrypt", _ms(result.encrypt_ms)],
        ["Decrypt", _ms(result.decrypt_ms)],
        ["round trip", "ok" if result.round_trip_ok else "failed"],
        ["ciphertext", f"{result.ciphertext_bytes} bytes" if result.ciphertext_bytes else "-"],
        ["annotations", ", ".join(result.annotations) or "-"],
    ]
    console = stdout_console()
    verdict = "healthy" if result.healthy else "UNHEALTHY"
    cells = [[name, escape(str(value))] for name, value in rows]  # plugin text is not markup
    rendered = table(f"KMS plugin: {verdict}", ["check", "result"], cells)
    for column in rendered.columns:
        column.overflow = "fold"  # a key_id hash is never cut short
    console.print(rendered)
    for problem in result.problems:
        console.print(f"problem: {problem}", markup=False, highlight=False)
