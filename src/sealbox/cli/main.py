"""The ``sealbox`` (and ``kubectl-sealbox``) entry point: wires command groups, maps errors."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from sealbox import __version__
from sealbox.cli import audit as audit_cli
from sealbox.cli import config as config_cli
from sealbox.cli import demo as demo_cli
from sealbox.cli import etcd as etcd_cli
from sealbox.cli import kms as kms_cli
from sealbox.errors import SealboxError

__all__ = ["app", "run"]


class _Group(TyperGroup):
    """Turns a SealboxError into ``error: <message>`` on stderr and its exit code, no traceback.

    Any other exception is a bug and keeps its traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SealboxError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="sealbox",
    cls=_Group,
    help=(
        "Keep Kubernetes Secrets secret: run the KMS v2 plugin kube-apiserver encrypts them with, "
        "validate EncryptionConfiguration files, and read or write etcd values exactly as "
        "kube-apiserver does."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(audit_cli.app, name="audit")
app.add_typer(config_cli.app, name="config")
app.add_typer(etcd_cli.app, name="etcd")
app.add_typer(kms_cli.app, name="kms")
app.command(name="demo")(demo_cli.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sealbox {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Sealbox command line."""


def run() -> None:
    """Console-script entry point."""
    app()
