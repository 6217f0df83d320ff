"""``sealbox etcd``: read and write single etcd values exactly as kube-apiserver does.

Every etcd command reports bad input the same way: one ``error: ...`` line naming the flag or
file and what would be valid, exit code 2, and nothing written (click's own usage errors
included: see :mod:`sealbox.cli.main`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from sealbox.cli import etcd_options as shared
from sealbox.cli.etcd_export import decrypt_command
from sealbox.cli.etcd_rewrap import rewrap_command
from sealbox.cli.etcd_scan import scan_command
from sealbox.cli.io import check_output_file, read_input, write_private_file
from sealbox.encryption import StorageTransformers, load_config
from sealbox.errors import InputError
from sealbox.kms.client import GrpcConnector
from sealbox.ops import decode_value, encode_value
from sealbox.render import OutputFormat, emit, stdout_console, table
from sealbox.storage import DEFAULT_PREFIX, parse_key
from sealbox.words import yes_no

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
_ETCD_KEY = typer.Option(
    None,
    "--etcd-key",
    "-k",
    help="Full etcd key (required), e.g. /registry/secrets/default/db. It is the AAD of aesgcm "
    "and kms, and picks the resource's provider chain.",
)
_OLD_ETCD_KEY = typer.Option(None, "--key", hidden=True)  # before --key meant the TLS key
_PREFIX = typer.Option(
    DEFAULT_PREFIX, "--prefix", help="The apiserver's --etcd-prefix (the key must start with it)."
)


def _etcd_key(etcd_key: str | None, old: str | None) -> str:
    key = shared.aliased("--etcd-key", etcd_key, "--key", old)
    if not key:
        raise InputError(
            "missing --etcd-key (-k): the object's full key, e.g. /registry/secrets/ns/db"
        )
    return key


@app.command()
def decode(
    value_file: str = typer.Argument(
        ..., metavar="VALUE_FILE", help="Raw stored value; '-' reads stdin."
    ),
    config: Path = _CONFIG,
    etcd_key: str | None = _ETCD_KEY,
    old_etcd_key: str | None = _OLD_ETCD_KEY,
    prefix: str = _PREFIX,
    output: OutputFormat = typer.Option(
        OutputFormat.yaml, "--output", "-o", help="yaml (default), json or table."
    ),
) -> None:
    """Decrypt one stored value and print the provider, key name, staleness and the object.

    The value is raw bytes as etcd holds them, e.g.:

        etcdctl get /registry/secrets/default/db --print-value-only > value.bin

        sealbox etcd decode -c encryption-config.yaml \\
            -k /registry/secrets/default/db value.bin

    The output holds the decrypted Secret (data base64 as in the API): treat it as a secret.
    """
    key = _etcd_key(etcd_key, old_etcd_key)
    encryption = load_config(config)
    value = read_input(value_file, "VALUE_FILE")
    with GrpcConnector() as connector:
        transformers = StorageTransformers(encryption, connector, etcd_prefix=prefix)
        decoded = decode_value(transformers, key, value)
    if output is OutputFormat.table:
        read = decoded.read
        stdout_console().print(
            table(
                key,
                ["provider", "key name", "stale"],
                [[read.provider, read.key_name or "-", yes_no(read.stale)]],
            )
        )
        emit(decoded.object, OutputFormat.yaml)
        return
    emit(decoded.as_dict(), output)


@app.command()
def encode(
    plaintext_file: str = typer.Argument(
        ...,
        metavar="PLAINTEXT_FILE",
        help="The object as the apiserver serializes it (k8s\\x00 protobuf or JSON); '-' = stdin.",
    ),
    config: Path = _CONFIG,
    etcd_key: str | None = _ETCD_KEY,
    old_etcd_key: str | None = _OLD_ETCD_KEY,
    prefix: str = _PREFIX,
    output_file: Path | None = typer.Option(
        None,
        "--output-file",
        help="Write the value to this file (mode 0600) instead of stdout; an existing file only "
        "with --force.",
    ),
    old_output_file: Path | None = typer.Option(None, "--out", hidden=True),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output-file."),
) -> None:
    """Encrypt a serialized object with the first provider of its resource's entry.

    The object must belong at the key: its metadata.name and namespace are the key's.

    Writes the exact bytes kube-apiserver would store under the key, e.g.:

        sealbox etcd encode -c encryption-config.yaml \\
            -k /registry/secrets/default/db plain.bin --output-file value.bin

        etcdctl put /registry/secrets/default/db < value.bin
    """
    key = _etcd_key(etcd_key, old_etcd_key)
    target = shared.aliased("--output-file", output_file, "--out", old_output_file)
    if target is not None:
        check_output_file("--output-file", target, force=force)
    elif sys.stdout.isatty():
        raise InputError("refusing to write binary data to a terminal; use --output-file or a pipe")
    parse_key(key, prefix=prefix)  # a bad key is reported as such, before the file's content
    encryption = load_config(config)
    plaintext = read_input(plaintext_file, "PLAINTEXT_FILE")
    with GrpcConnector() as connector:
        transformers = StorageTransformers(encryption, connector, etcd_prefix=prefix)
        try:
            value = encode_value(transformers, key, plaintext)
        except InputError as exc:
            raise InputError(f"PLAINTEXT_FILE {plaintext_file}: {exc}") from None
    if target is not None:
        write_private_file(target, value, replace=force, flag="--output-file")
    else:
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()


app.command("scan")(scan_command)
app.command("decrypt")(decrypt_command)
app.command("rewrap")(rewrap_command)
