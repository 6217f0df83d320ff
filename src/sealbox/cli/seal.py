"""``sealbox seal``: seal Secret manifests to a cluster's certificate, offline, as kubeseal does.

Parsing and output only; the SealedSecret itself comes from :mod:`sealbox.sealing`. Output is
kubeseal's: JSON pretty-printed in Go's field order (the default), or YAML with sorted keys,
each document preceded by ``---``.
"""

from __future__ import annotations

import datetime
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sealbox.cli.io import check_output_file, read_input, write_private_file
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


class FormatChoice(StrEnum):
    """``-o`` formats."""

    json = "json"
    yaml = "yaml"


def _documents(data: bytes, label: str) -> list[Any]:
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{label}: not UTF-8 text; expected a Secret in YAML or JSON") from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        # the parser's own message may quote the input, which may be a value: never shown
        raise InputError(f"{where}: not valid YAML or JSON; expected a Secret manifest") from None
    if not documents:
        raise InputError(f"{label}: empty; expected a Secret in YAML or JSON")
    return documents


def _render(documents: list[dict[str, Any]], output_format: FormatChoice) -> str:
    if output_format is FormatChoice.json:
        return "".join(json.dumps(doc, indent=2) + "\n" for doc in documents)
    import yaml

    return "".join(
        "---\n" + yaml.safe_dump(doc, sort_keys=True, default_flow_style=False) for doc in documents
    )


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
    """
    from sealbox.sealing import Scope, seal_raw, seal_secret

    if output_file is not None:
        check_output_file("--output-file", output_file, force=force)
    chosen = Scope(scope.value) if scope is not None else None
    if output_format is None:
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
        documents = _documents(read_input(file, "FILE"), label)
        public_key = _public_key(cert)
        sealed = []
        for index, document in enumerate(documents):
            where = label if len(documents) == 1 else f"{label} document {index + 1}"
            try:
                sealed.append(
                    seal_secret(
                        document,
                        public_key,
                        scope=chosen,
                        namespace=namespace,
                        name=name,
                        allow_empty_data=allow_empty_data,
                    )
                )
            except SealError as exc:
                raise SealError(f"{where}: {exc}") from None
        text = _render(sealed, output_format)
    if output_file is not None:
        write_private_file(output_file, text.encode(), replace=force, flag="--output-file")
    else:
        typer.echo(text, nl=False)
