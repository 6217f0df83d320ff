"""``sealbox etcd``: read and write single etcd values exactly as kube-apiserver does."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from sealbox.cli.etcd_export import decrypt_command
from sealbox.cli.etcd_rewrap import rewrap_command
from sealbox.cli.etcd_scan import scan_command
from sealbox.cli.io import read_input, write_private_file
from sealbox.encryption import StorageTransformers, load_config
from sealbox.errors import InputError
from sealbox.kms.client import GrpcConnector
from sealbox.ops import decode_value, encode_value
from sealbox.render import OutputFormat, emit, stdout_console, table
from sealbox.storage import DEFAULT_PREFIX

__all__ = ["app"]

app = typer.Typer(
    help="Read and write etcd values exactly as kube-apiserver does.",
    no_args_is_help=True,
)

_CONFIG = typer.Option(
    ...,
    "--config",
    "-c",
    help="The apiserver's EncryptionConfiguration (--encryption-provider-config). KMS plugins "
    "it names must be reachable on their sockets.",
)
_KEY = typer.Option(
    ...,
    "--key",
    "-k",
    help="Full etcd key, e.g. /registry/secrets/default/db. It is the AAD of aesgcm and kms, "
    "and picks the resource's provider chain.",
)
_PREFIX = typer.Option(
    DEFAULT_PREFIX, "--prefix", help="The apiserver's --etcd-prefix (the key must start with it)."
)


@app.command()
def decode(
    value_file: str = typer.Argument(
        ..., metavar="VALUE_FILE", help="Raw stored value; '-' reads stdin."
    ),
    config: Path = _CONFIG,
    key: str = _KEY,
    prefix: str = _PREFIX,
    output: OutputFormat = typer.Option(
        OutputFormat.yaml, "--output", "-o", help="yaml (default), json or table."
    ),
) -> None:
    """Decrypt one stored value and print the provider, key name, staleness and the object.

    The value is raw bytes as etcd holds them, e.g.:

        etcdctl get /registry/secrets/default/db --print-value-only > value.bin

        sealbox etcd decode -c encryption-config.yaml -k /registry/secrets/default/db value.bin

    The output holds the decrypted Secret (data base64 as in the API): treat it as a secret.
    """
    encryption = load_config(config)
    value = read_input(value_file)
    with GrpcConnector() as connector:
        transformers = StorageTransformers(encryption, connector, etcd_prefix=prefix)
        decoded = decode_value(transformers, key, value)
    document = decoded.as_dict()
    if output is OutputFormat.table:
        console = stdout_console()
        console.print(
            table(
                key,
                ["provider", "key name", "stale"],
                [[decoded.read.provider, decoded.read.key_name or "-", decoded.read.stale]],
            )
        )
        emit(decoded.object, OutputFormat.yaml)
        return
    emit(document, output)


@app.command()
def encode(
    plaintext_file: str = typer.Argument(
        ...,
        metavar="PLAINTEXT_FILE",
        help="The object as the apiserver serializes it (k8s\\x00 protobuf or JSON); '-' = stdin.",
    ),
    config: Path = _CONFIG,
    key: str = _KEY,
    prefix: str = _PREFIX,
    out: str | None = typer.Option(
        None, "--out", help="Write the value to this file (mode 0600) instead of stdout."
    ),
) -> None:
    """Encrypt a serialized object with the first provider of its resource's entry.

    Prints the exact bytes kube-apiserver would store under KEY, e.g.:

        sealbox etcd encode -c encryption-config.yaml -k /registry/secrets/default/db \\
            plain.bin --out value.bin

        etcdctl put /registry/secrets/default/db < value.bin
    """
    encryption = load_config(config)
    plaintext = read_input(plaintext_file)
    if out is None and sys.stdout.isatty():
        raise InputError("refusing to write binary data to a terminal; use --out FILE or a pipe")
    with GrpcConnector() as connector:
        transformers = StorageTransformers(encryption, connector, etcd_prefix=prefix)
        value = encode_value(transformers, key, plaintext)
    if out is not None:
        write_private_file(out, value)
    else:
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()


app.command("scan")(scan_command)
app.command("decrypt")(decrypt_command)
app.command("rewrap")(rewrap_command)
