"""``sealbox seal``: seal Secret manifests to a cluster's certificate, offline, as kubeseal does.

Parsing and output only; the SealedSecret itself comes from :mod:`sealbox.sealing`. Output is
kubeseal's: JSON pretty-printed in Go's field order (the default), or YAML with sorted keys,
each document preceded by ``---``.
"""

from __future__ import annotations

import datetime
import functools
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sealbox.cli.io import check_output_file, read_input, write_private_file
from sealbox.cli.seal_files import FormatChoice, documents, render
from sealbox.cli.seal_group import DEFAULT_COMMAND, SealDefaultCommand, SealGroup
from sealbox.errors import InputError, SealError

__all__ = ["app", "seal"]

app = typer.Typer(
    cls=SealGroup,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Seal Secret manifests into SealedSecrets for Git (like kubeseal), list which key sealed
    each value, back up sealing keys."""


class ScopeChoice(StrEnum):
    """``--scope`` spellings, as kubeseal's."""

    strict = "strict"
    namespace_wide = "namespace-wide"
    cluster_wide = "cluster-wide"


def _public_key(cert: str) -> Any:
    from sealbox.sealing import load_certificate

    source = f"--cert {cert}"
    certificate = load_certificate(read_input(cert, "--cert"), source)
    return certificate.key_for_sealing(datetime.datetime.now(datetime.UTC), source)


def _raw_value(from_file: str | None) -> bytes:
    if from_file is None:
        return read_input("-")
    path = from_file.partition("=")[2] if "=" in from_file else from_file  # kubectl key=path
    return read_input(path, "--from-file")


@app.command(name=DEFAULT_COMMAND, hidden=True, cls=SealDefaultCommand)
def seal(
    file: str = typer.Argument(
        "-", metavar="[FILE|-]", help="Secret manifest(s), YAML or JSON; - (default) is stdin."
    ),
    cert: str = typer.Option(
        ...,
        "--cert",
        envvar="SEALED_SECRETS_CERT",
        help="The controller's PEM certificate (sealbox fetches none: this is offline).",
    ),
    scope: ScopeChoice | None = typer.Option(
        None,
        "--scope",
        help="Override the manifest's scope annotations (default: keep them; none is strict).",
    ),
    output_format: FormatChoice | None = typer.Option(
        None,
        "-o",
        "--format",
        help="Output format (default: json; yaml for an --output-file ending .yaml/.yml).",
    ),
    output_file: Path | None = typer.Option(
        None, "--output-file", "-w", help="Write here (atomically, 0600) instead of stdout."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output-file."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Namespace for a manifest that names none."
    ),
    name: str | None = typer.Option(None, "--name", help="Override the Secret's name."),
    raw: bool = typer.Option(
        False, "--raw", help="Seal one value (stdin or --from-file); print its base64 only."
    ),
    from_file: str | None = typer.Option(
        None, "--from-file", help="With --raw: the value's file (path or key=path, kubectl style)."
    ),
    allow_empty_data: bool = typer.Option(
        False, "--allow-empty-data", help="Seal a Secret with neither data nor stringData."
    ),
    merge_into: Path | None = typer.Option(
        None,
        "--merge-into",
        metavar="FILE",
        help="Add or replace the input's items in the SealedSecret in FILE, in place; the "
        "other items keep their ciphertext byte for byte.",
    ),
) -> None:
    """Seal Secret manifests into SealedSecrets for Git, offline, like kubeseal.

    Each Secret (multi-document input is fine) becomes a bitnami.com/v1alpha1 SealedSecret that
    the Sealed Secrets controller (or Sealbox's) turns back into the Secret. Output matches
    kubeseal's: data values are decoded and sealed, stringData sealed as written, labels,
    annotations, type and immutable kept in spec.template, kubectl's last-applied annotation
    dropped (it holds the plaintext). The scope comes from the Secret's
    sealedsecrets.bitnami.com annotations unless --scope says otherwise; strict and
    namespace-wide need a namespace (the manifest's, or --namespace).

    With --raw, seal one value for a SealedSecret edited by hand: the base64 text is printed
    without a newline; add the scope annotation to the SealedSecret yourself.

    Examples:

        sealbox seal secret.yaml --cert cluster.pem -o yaml > sealed.yaml
        sealbox seal secret.yaml --cert cluster.pem --scope namespace-wide \\
            --output-file sealed.yaml
        sealbox seal --raw --from-file password.txt --cert cluster.pem \\
            --namespace prod --name db
        sealbox seal new-item.yaml --cert cluster.pem --merge-into sealed.yaml
    """
    from sealbox.sealing import Scope, seal_raw, seal_secret

    if output_file is not None:
        check_output_file("--output-file", output_file, force=force)
    _exclusive(raw=raw, merge_into=merge_into, output_file=output_file)
    chosen = Scope(scope.value) if scope is not None else None
    if output_format is None and merge_into is None:
        suffix = output_file.suffix if output_file is not None else ""
        output_format = FormatChoice.yaml if suffix in (".yaml", ".yml") else FormatChoice.json
    if raw:
        if file != "-":
            raise InputError(f"FILE {file}: --raw seals one value; give it with --from-file")
        value = _raw_value(from_file)
        text = seal_raw(_public_key(cert), value, chosen or Scope.STRICT, namespace, name)
    else:
        if from_file is not None:
            raise InputError("--from-file: only with --raw; give a Secret manifest as FILE")
        label = "stdin" if file == "-" else file
        secrets = documents(read_input(file, "FILE"), label)
        seal_one = functools.partial(
            seal_secret, public_key=_public_key(cert), allow_empty_data=allow_empty_data
        )
        if merge_into is not None:
            from sealbox.cli.seal_merge import merge_into as merge

            merge(
                merge_into,
                secrets,
                label=label,
                scope=chosen,
                output_format=output_format,
                seal_one=seal_one,
            )
            return
        assert output_format is not None  # chosen above when not merging
        sealed = []
        for index, document in enumerate(secrets):
            where = label if len(secrets) == 1 else f"{label} document {index + 1}"
            try:
                sealed.append(seal_one(document, scope=chosen, namespace=namespace, name=name))
            except SealError as exc:
                raise SealError(f"{where}: {exc}") from None
        text = render(sealed, output_format)
    if output_file is not None:
        write_private_file(output_file, text.encode(), replace=force, flag="--output-file")
    else:
        typer.echo(text, nl=False)


def _exclusive(*, raw: bool, merge_into: Path | None, output_file: Path | None) -> None:
    """Flags that cannot go together, refused before any work."""
    if merge_into is None:
        return
    if raw:
        raise InputError("--merge-into: not with --raw; --raw prints one value to add by hand")
    if output_file is not None:
        raise InputError(
            f"--merge-into {merge_into}: rewrites that file in place; drop --output-file"
        )
