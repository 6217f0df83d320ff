"""The ``sealbox`` (and ``kubectl-sealbox``) entry point: wires command groups, maps errors."""

from __future__ import annotations

from typing import IO, Any

import click
import typer
from typer.core import TyperGroup

from sealbox import __version__
from sealbox.cli import config as config_cli
from sealbox.cli import demo as demo_cli
from sealbox.cli import etcd as etcd_cli
from sealbox.errors import SealboxError

__all__ = ["app", "run"]


class _UserError(click.ClickException):
    """A SealboxError on its way out: ``error: <message>`` on stderr, the error's exit code."""

    def __init__(self, error: SealboxError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class _Group(TyperGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SealboxError as exc:
            raise _UserError(exc) from exc


app = typer.Typer(
    name="sealbox",
    cls=_Group,
    help=(
        "Keep Kubernetes Secrets secret: validate EncryptionConfiguration files, and read or write "
        "etcd values exactly as kube-apiserver does."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cli.app, name="config")
app.add_typer(etcd_cli.app, name="etcd")
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
