"""Every command teaches: its --help runs, says what it does, and shows an example that parses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer
from typer._click.core import Command
from typer.testing import CliRunner

from sealbox.cli import app
from tests.test_docs import _parse, _words

ROOT = typer.main.get_command(app)


def _leaves(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    commands = getattr(command, "commands", None)
    if not commands:
        yield path
        return
    for name, sub in sorted(commands.items()):
        if not sub.hidden:
            yield from _leaves(sub, (*path, name))


COMMANDS = list(_leaves(ROOT))


def _command(path: tuple[str, ...]) -> Command:
    command = ROOT
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]  # a group has commands
    return command


def _examples(path: tuple[str, ...]) -> list[str]:
    """Command lines for ``path`` in its help (after "Example:" and the like, if any)."""
    help_text = (_command(path).help or "").replace("\\\n", " ")
    start = f"sealbox {' '.join(path)}"
    return [line[line.index(start) :] for line in help_text.splitlines() if start in line]


def test_the_tree_is_walked() -> None:
    assert ("kms", "serve") in COMMANDS
    assert ("etcd", "scan") in COMMANDS
    assert len(COMMANDS) > 12


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(path) for path in COMMANDS])
def test_help_shows_an_example_that_parses(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    examples = _examples(path)
    assert examples, f"`sealbox {' '.join(path)} --help` shows no example"
    for example in examples:
        command, hidden = _parse(_words(example))
        assert command == " ".join(path), example
        assert not hidden, f"{example}: uses deprecated spelling(s) {hidden}"
