"""The ``sealbox`` (and ``kubectl-sealbox``) entry point: wires command groups, maps errors."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from sealbox import __version__
from sealbox.cli import audit as audit_cli
from sealbox.cli import config as config_cli
from sealbox.cli import controller as controller_cli
from sealbox.cli import demo as demo_cli
from sealbox.cli import etcd as etcd_cli
from sealbox.cli import kms as kms_cli
from sealbox.cli import rotate as rotate_cli
from sealbox.cli import seal as seal_cli
from sealbox.cli.help_text import reflow_tree
from sealbox.errors import InputError, SealboxError

__all__ = ["app", "run"]


class _Group(TyperGroup):
    """Every user error is one ``error: <message>`` line on stderr and its exit code.

    A SealboxError brings its own message and code; click's usage errors (an unknown command or
    flag, a bad choice, a missing option), anywhere in the command tree, become a line naming
    the command and pointing at its --help, exit 2. Any other exception is a bug and keeps its
    traceback.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reflow_tree(self)  # the whole tree is built by now: sub-groups are built first

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except typer.TyperException as exc:  # click's ClickException, vendored by typer
            _fail_usage(exc, getattr(exc, "ctx", None))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SealboxError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except typer.TyperException as exc:
            _fail_usage(exc, getattr(exc, "ctx", None) or ctx)


def _fail_usage(exc: typer.TyperException, ctx: Any) -> NoReturn:
    """``error: sealbox etcd scan: No such option: --x (see sealbox etcd scan --help)``."""
    if getattr(exc, "exit_code", 1) != InputError.exit_code or not exc.format_message():
        raise exc  # not a usage error, or the help a bare group prints: click's own handling
    possibilities = getattr(exc, "possibilities", None)
    if possibilities and ctx is not None:  # "did you mean" never offers a hidden old spelling
        hidden = {opt for p in ctx.command.params if getattr(p, "hidden", False) for opt in p.opts}
        exc.__dict__["possibilities"] = [opt for opt in possibilities if opt not in hidden]
    message = " ".join(exc.format_message().replace("Value error, ", "").split())
    where = ctx.command_path if ctx is not None else "sealbox"
    typer.echo(f"error: {where}: {message} (see {where} --help)", err=True)
    raise typer.Exit(InputError.exit_code) from None


app = typer.Typer(
    name="sealbox",
    cls=_Group,
    help=(
        "Keep Kubernetes Secrets secret: run the KMS v2 plugin kube-apiserver encrypts them with, "
        "read or write etcd values exactly as kube-apiserver does, validate "
        "EncryptionConfiguration files, audit how Secrets are protected, and seal them for Git."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(audit_cli.app, name="audit")
app.add_typer(config_cli.app, name="config")
app.add_typer(controller_cli.app, name="controller")
app.add_typer(etcd_cli.app, name="etcd")
app.add_typer(kms_cli.app, name="kms")
app.command(name="demo")(demo_cli.demo)
app.add_typer(rotate_cli.app, name="rotate")
app.add_typer(seal_cli.app, name="seal")


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
