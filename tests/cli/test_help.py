"""Every command teaches: its --help runs, says what it does, and shows an example that parses
and fits an 80-column terminal (a longer line is re-wrapped and no longer pastes as one command)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
import typer
from typer._click.core import Command
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.cli.help_text import reflow
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


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(path) for path in COMMANDS])
def test_examples_fit_an_80_column_terminal(path: tuple[str, ...]) -> None:
    start = f"sealbox {' '.join(path)}"
    lines = inspect.cleandoc(_command(path).help or "").splitlines()
    # prose is re-flowed, but an example (indented, or a command line) is printed as written,
    # one column in: past 79 columns the terminal breaks it
    examples = [line for line in lines if line.startswith(" ") or start in line]
    long = [line for line in examples if len(line) > 78]
    assert not long, f"wrap these with \\ continuations: {long}"


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(path) for path in COMMANDS])
def test_prose_is_wrapped_by_the_terminal_and_examples_are_kept(path: tuple[str, ...]) -> None:
    """At any width a prose paragraph is one flowing text (no line break from the source file
    left in it), and an example keeps its indent and its lines."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "2000"})
    rendered = [line.rstrip() for line in result.output.splitlines()]
    paragraphs = inspect.cleandoc(_command(path).help or "").split("\n\n")
    for paragraph in paragraphs:
        lines = paragraph.strip("\n").splitlines()
        if any(line.startswith(" ") for line in lines):
            for line in lines:
                assert f" {line}" in rendered, f"example line lost its indent: {line!r}"
        else:
            assert len(lines) == 1, f"prose kept its source line breaks: {paragraph!r}"
            assert any(" ".join(lines[0].split()) in line for line in rendered), lines[0]


def test_reflow_joins_prose_and_keeps_blocks() -> None:
    text = """First line
    of the summary.

    A paragraph wrapped
    for the source file.

        sealbox etcd scan \\
            --fail-on plaintext
    """
    assert reflow(text).split("\n\n") == [
        "First line of the summary.",
        "\nA paragraph wrapped for the source file.",
        "    sealbox etcd scan \\\n        --fail-on plaintext",
    ]
