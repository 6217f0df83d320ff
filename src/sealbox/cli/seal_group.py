"""``sealbox seal`` is a command group that is also a command, as kubeseal is one command.

``sealbox seal inventory DIR`` and ``sealbox seal backup`` are subcommands, while
``sealbox seal [FILE|-] --cert ...`` (kubeseal's own spelling) keeps sealing: when the first
argument is not a subcommand's name, :class:`SealGroup` hands all the arguments to its default
command. That command answers as ``sealbox seal`` itself (usage lines, error messages), and
``sealbox seal --help`` shows its options and then the subcommands, so one page teaches both.

A FILE named like a subcommand is given as ``./inventory``.
"""

from __future__ import annotations

from typing import Any

from typer import _click
from typer.core import TyperCommand, TyperGroup

__all__ = ["DEFAULT_COMMAND", "SealDefaultCommand", "SealGroup"]

DEFAULT_COMMAND = "secret"
"""The hidden name of the default command (``sealbox seal secret FILE`` also works)."""


class _AsParentContext(_click.Context):
    """The default command's context: it speaks as its group (``sealbox seal``), not as
    ``sealbox seal secret``, in usage lines and in ``error: sealbox seal: ...``."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent is not None else super().command_path


class SealDefaultCommand(TyperCommand):
    """The sealing command, named by its group."""

    context_class = _AsParentContext


class SealGroup(TyperGroup):
    """A group whose arguments go to :data:`DEFAULT_COMMAND` unless they name a subcommand."""

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        wants_help = bool(set(args) & set(ctx.help_option_names)) and "--" not in args
        if first not in self.commands and not (wants_help and not ctx.resilient_parsing):
            args = [DEFAULT_COMMAND, *args]
        elif wants_help and first not in self.commands:
            args = [a for a in args if a in ctx.help_option_names][:1]  # the group's page
        return super().parse_args(ctx, args)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """The default command's page (usage ``sealbox seal [OPTIONS] [FILE|-]``), then the
        subcommands."""
        default = self.commands[DEFAULT_COMMAND]
        sub: Any = default.make_context(DEFAULT_COMMAND, [], parent=ctx, resilient_parsing=True)
        default.format_help(sub, formatter)
        self.format_commands(ctx, formatter)
