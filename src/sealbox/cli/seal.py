"""``sealbox seal``: seal Secret manifests to a cluster's certificate, as kubeseal does.

Parsing, mode selection and output only; the SealedSecret itself comes from
:mod:`sealbox.sealing`, the certificate from :mod:`.seal_certs`, the controller's endpoints from
:mod:`.seal_cluster`, ``--merge-into`` from :mod:`.seal_merge`. Output is kubeseal's: JSON
pretty-printed in Go's field order (the default), or YAML with sorted keys, each document
preceded by ``---``.

One command, several modes (kubeseal's flags): seal (default), ``--raw``, ``--merge-into``,
``--fetch-cert``, ``--validate``, ``--re-encrypt``, ``--recovery-unseal`` (:mod:`.seal_recovery`);
at most one of them at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sealbox.cli.io import check_output_file, read_input, write_private_file
from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.cli.seal_backup import backup_command
from sealbox.cli.seal_certs import Controller, certificate_pem, public_key
from sealbox.cli.seal_files import FormatChoice, documents, render
from sealbox.cli.seal_group import DEFAULT_COMMAND, SealDefaultCommand, SealGroup
from sealbox.cli.seal_inventory import inventory_command
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


app.command(name="inventory")(inventory_command)
app.command(name="backup")(backup_command)


class ScopeChoice(StrEnum):
    """``--scope`` spellings, as kubeseal's."""

    strict = "strict"
    namespace_wide = "namespace-wide"
    cluster_wide = "cluster-wide"


def _raw_value(from_file: str | None) -> bytes:
    if from_file is None:
        return read_input("-")
    path = from_file.partition("=")[2] if "=" in from_file else from_file  # kubectl key=path
    return read_input(path, "--from-file")


@app.command(name=DEFAULT_COMMAND, hidden=True, cls=SealDefaultCommand)
@with_kube_options
def seal(
    file: str = typer.Argument(
        "-",
        metavar="[FILE|-]",
        help="Secret manifest(s), YAML or JSON (SealedSecrets for --validate, --re-encrypt, "
        "--recovery-unseal); - (default) is stdin.",
    ),
    cert: str | None = typer.Option(
        None,
        "--cert",
        envvar="SEALED_SECRETS_CERT",
        help="The controller's PEM certificate: a file, an http(s):// URL or a file:// URL "
        "(default: fetched from the controller through the apiserver).",
    ),
    fetch_cert: bool = typer.Option(
        False, "--fetch-cert", help="Print the controller's certificate (PEM) and exit."
    ),
    controller_name: str = typer.Option(
        "sealed-secrets-controller",
        "--controller-name",
        envvar="SEALED_SECRETS_CONTROLLER_NAME",
        help="The controller's Service (the Helm chart names it sealed-secrets).",
    ),
    controller_namespace: str = typer.Option(
        "kube-system",
        "--controller-namespace",
        envvar="SEALED_SECRETS_CONTROLLER_NAMESPACE",
        help="The controller's namespace.",
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
    recipients: list[str] | None = typer.Option(
        None,
        "--recipients",
        metavar="CERT",
        help="Seal each value once for several certificates (files or URLs; repeat the flag), "
        "plus --cert if given, in a Sealbox envelope any of them opens. Sealbox's controller "
        "reads it; the upstream one does not.",
    ),
    validate: bool = typer.Option(
        False,
        "--validate",
        help="Ask the controller whether it can open each SealedSecret of the input.",
    ),
    re_encrypt: bool = typer.Option(
        False,
        "--re-encrypt",
        help="Have the controller re-seal each SealedSecret with its newest key (a FILE is "
        "rewritten in place unless --output-file).",
    ),
    recovery_unseal: bool = typer.Option(
        False,
        "--recovery-unseal",
        help="Disaster recovery, offline: open one SealedSecret with --recovery-private-key "
        "and print its Secret, values REDACTED unless --show-values.",
    ),
    recovery_private_key: list[str] | None = typer.Option(
        None,
        "--recovery-private-key",
        metavar="FILE[,FILE...]",
        help="With --recovery-unseal: backed-up private keys (PEM, a Secret, a List of Secrets); "
        "repeat the flag or separate by commas.",
    ),
    show_values: bool = typer.Option(
        False,
        "--show-values",
        help="With --recovery-unseal: print the values themselves (they are secret).",
    ),
    *,
    kube: KubeOptions,
) -> None:
    """Seal Secret manifests into SealedSecrets for Git, like kubeseal.

    Each Secret (multi-document input is fine) becomes a bitnami.com/v1alpha1 SealedSecret that
    the Sealed Secrets controller (or Sealbox's) turns back into the Secret. Output matches
    kubeseal's: data values are decoded and sealed, stringData sealed as written, labels,
    annotations, type and immutable kept in spec.template, kubectl's last-applied annotation
    dropped (it holds the plaintext). The scope comes from the Secret's
    sealedsecrets.bitnami.com annotations unless --scope says otherwise; strict and
    namespace-wide need a namespace (the manifest's, or --namespace).

    The certificate is --cert (a file or URL: offline), else the controller's, fetched through
    the apiserver's service proxy (--controller-name, --controller-namespace, --kubeconfig,
    --context), as are --fetch-cert, --validate and --re-encrypt.

    With --raw, seal one value for a SealedSecret edited by hand: the base64 text is printed
    without a newline; add the scope annotation to the SealedSecret yourself.

    Subcommands: sealbox seal inventory DIR lists which key sealed each value, sealbox seal
    backup exports the controller's keys encrypted to age recipients; a FILE named like a
    subcommand is given as ./NAME.

    Examples:

        sealbox seal secret.yaml --cert cluster.pem -o yaml > sealed.yaml
        sealbox seal secret.yaml --controller-name sealed-secrets \\
            --output-file sealed.yaml
        sealbox seal --raw --from-file password.txt --cert cluster.pem \\
            --namespace prod --name db
        sealbox seal new-item.yaml --cert cluster.pem --merge-into sealed.yaml
        sealbox seal secret.yaml --recipients prod.pem \\
            --recipients recovery.pem
        sealbox seal --fetch-cert > cluster.pem
        sealbox seal --validate sealed.yaml
        sealbox seal --re-encrypt sealed.yaml
        sealbox seal --recovery-unseal sealed.yaml \\
            --recovery-private-key backup-keys.yaml
    """
    if output_file is not None:
        check_output_file("--output-file", output_file, force=force)
    mode = _mode(
        raw=raw,
        merge_into=merge_into,
        fetch_cert=fetch_cert,
        validate=validate,
        re_encrypt=re_encrypt,
        recovery_unseal=recovery_unseal,
    )
    if (recovery_private_key or show_values) and mode != "--recovery-unseal":
        flag = "--recovery-private-key" if recovery_private_key else "--show-values"
        raise InputError(f"{flag}: only with --recovery-unseal")
    if merge_into is not None and output_file is not None:
        raise InputError(
            f"--merge-into {merge_into}: rewrites that file in place; drop --output-file"
        )
    if from_file is not None and mode != "--raw":
        raise InputError("--from-file: only with --raw; give a Secret manifest as FILE")
    if recipients and mode not in ("seal", "--raw", "--merge-into"):
        raise InputError(f"--recipients: only when sealing, not with {mode}")
    if raw and file != "-":
        raise InputError(f"FILE {file}: --raw seals one value; give it with --from-file")
    controller = Controller(controller_name, controller_namespace, kube)
    if output_format is None and mode in ("seal", "--raw", "--fetch-cert", "--recovery-unseal"):
        suffix = output_file.suffix if output_file is not None else ""
        output_format = FormatChoice.yaml if suffix in (".yaml", ".yml") else FormatChoice.json
    text = _run(
        mode,
        file=file,
        cert=cert,
        controller=controller,
        scope=scope,
        output_format=output_format,
        output_file=output_file,
        namespace=namespace,
        name=name,
        from_file=from_file,
        allow_empty_data=allow_empty_data,
        merge_into=merge_into,
        recipients=recipients or [],
        recovery_private_key=recovery_private_key or [],
        show_values=show_values,
    )
    if text is None:
        return
    if output_file is not None:
        write_private_file(output_file, text.encode(), replace=force, flag="--output-file")
    else:
        typer.echo(text, nl=False)


def _mode(**flags: object) -> str:
    """The one mode the flags ask for (``seal`` when none); InputError for two."""
    chosen = [f"--{key.replace('_', '-')}" for key, value in flags.items() if value]
    if len(chosen) > 1:
        raise InputError(f"{chosen[0]} and {chosen[1]}: choose one of them per run")
    return chosen[0] if chosen else "seal"


def _run(
    mode: str,
    *,
    file: str,
    cert: str | None,
    controller: Controller,
    scope: ScopeChoice | None,
    output_format: FormatChoice | None,
    output_file: Path | None,
    namespace: str | None,
    name: str | None,
    from_file: str | None,
    allow_empty_data: bool,
    merge_into: Path | None,
    recipients: list[str],
    recovery_private_key: list[str],
    show_values: bool,
) -> str | None:
    """Do what ``mode`` asks; the text to print or write, None when nothing more is due."""
    from sealbox.cli.seal_recipients import (
        recipient_keys,
        seal_raw_to_recipients,
        seal_to_recipients,
    )
    from sealbox.sealing import Scope, seal_raw, seal_secret

    chosen = Scope(scope.value) if scope is not None else None
    if mode == "--fetch-cert":
        return certificate_pem(cert, controller)[0].decode("ascii", "replace")
    if mode == "--recovery-unseal":
        from sealbox.cli.seal_recovery import recovery_unseal

        secret = recovery_unseal(file, recovery_private_key, show_values=show_values)
        assert output_format is not None  # chosen by the caller for this mode
        return render([secret], output_format)
    if mode == "--validate":
        from sealbox.cli.seal_cluster import validate

        validate(file, controller)
        return None
    if mode == "--re-encrypt":
        from sealbox.cli.seal_cluster import re_encrypt

        in_place = file != "-" and output_file is None
        return re_encrypt(file, controller, output_format, in_place)
    keys = recipient_keys(cert, recipients, controller) if recipients else []
    if mode == "--raw":
        value = _raw_value(from_file)
        if keys:
            return seal_raw_to_recipients(keys, value, chosen or Scope.STRICT, namespace, name)
        key = public_key(cert, controller)
        return seal_raw(key, value, chosen or Scope.STRICT, namespace, name)
    label = "stdin" if file == "-" else file
    secrets = documents(read_input(file, "FILE"), label)
    seal_one: Callable[..., dict[str, Any]] = (
        functools.partial(seal_to_recipients, keys=keys, allow_empty_data=allow_empty_data)
        if keys
        else functools.partial(
            seal_secret, public_key=public_key(cert, controller), allow_empty_data=allow_empty_data
        )
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
        return None
    assert output_format is not None  # chosen by the caller for this mode
    sealed = []
    for index, document in enumerate(secrets):
        where = label if len(secrets) == 1 else f"{label} document {index + 1}"
        try:
            sealed.append(seal_one(document, scope=chosen, namespace=namespace, name=name))
        except SealError as exc:
            raise SealError(f"{where}: {exc}") from None
    return render(sealed, output_format)
