"""Every ``sealbox`` command the docs show is one the CLI accepts, and the runnable ones run.

Each fenced shell block of README.md and docs/*.md is read; every ``sealbox ...`` command line in
it (``\\`` continuations joined, comments and ``$`` prompts dropped) must parse with the real
command line: the command exists, each flag exists and is not a hidden (deprecated) spelling,
and each value has the flag's type. A block preceded by ``<!-- doc-test: run -->`` is also run,
top to bottom, in a scratch directory standing in for the machine (``/etc/sealbox`` and
``/var/run/sealbox`` are rewritten into it): a command that serves is started in the background,
waited for, and stopped at the end.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer._click.exceptions import ClickException

from sealbox.cli import app
from tests.integration.processes import wait_until

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_MARKER = "<!-- doc-test: run -->"
_FENCE = re.compile(r"^```(\w*)\s*$")
_SHELL = {"sh", "bash", "shell", "console"}
SEALBOX = str(Path(sys.executable).parent / "sealbox")


@dataclass(frozen=True, slots=True)
class Block:
    file: Path
    line: int
    commands: tuple[str, ...]
    run: bool

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def _blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None or match.group(1) not in _SHELL:
            index += 1
            continue
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        previous = lines[start - 1].strip() if start else ""
        yield Block(path, start + 1, tuple(_commands(body)), run=previous == RUN_MARKER)
        index += 1


def _commands(body: list[str]) -> Iterator[str]:
    """Logical command lines: continuations joined, prompts and comments dropped."""
    pending = ""
    for raw in body:
        line = raw.strip().removeprefix("$ ")
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            yield line


BLOCKS = [block for path in DOCS for block in _blocks(path)]
SEALBOX_LINES = [
    (block.where, command)
    for block in BLOCKS
    for command in block.commands
    if command.startswith(("sealbox ", "kubectl sealbox "))
]


def _words(command: str) -> list[str]:
    """The arguments of the first command of a shell line (before a pipe or redirection)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words: list[str] = []
    for word in lexer:
        if set(word) <= set("|&;<>()"):
            break
        words.append(word)
    return words[2:] if words[0] == "kubectl" else words[1:]


def _parse(args: list[str]) -> tuple[str, list[str]]:
    """The command path and the hidden flags used; raises ClickException on a bad line."""
    command = typer.main.get_command(app)
    ctx = command.make_context("sealbox", list(args))
    rest = ctx._protected_args + ctx.args
    names = []
    while hasattr(command, "resolve_command"):
        name, command, remaining = command.resolve_command(ctx, rest)
        assert name is not None
        assert command is not None
        names.append(name)
        ctx = command.make_context(name, remaining, parent=ctx)
        rest = ctx._protected_args + ctx.args
    hidden = [
        flag
        for param in command.params
        if getattr(param, "hidden", False)
        for flag in param.opts
        if flag in args
    ]
    return " ".join(names), hidden


@pytest.mark.parametrize(("where", "command"), SEALBOX_LINES, ids=[w for w, _ in SEALBOX_LINES])
def test_documented_command_parses(where: str, command: str) -> None:
    try:
        path, hidden = _parse(_words(command))
    except ClickException as exc:
        pytest.fail(f"{where}: `{command}` does not parse: {exc.format_message()}")
    assert not hidden, f"{where}: `{command}` uses deprecated spelling(s) {hidden}"
    assert path, f"{where}: `{command}` names no command"


def test_the_docs_show_commands() -> None:
    """The checks above would pass on nothing if no block were found."""
    assert len(SEALBOX_LINES) > 20
    assert any(block.run for block in BLOCKS)


def _localize(command: str, sandbox: Path) -> str:
    for real in ("/etc/sealbox", "/var/run/sealbox"):
        command = command.replace(real, str(sandbox / real.strip("/").replace("/", "-")))
    return command


RUNNABLE = [block for block in BLOCKS if block.run]


@pytest.mark.integration
@pytest.mark.parametrize("block", RUNNABLE, ids=[block.where for block in RUNNABLE])
def test_runnable_block_runs(block: Block, tmp_path: Path) -> None:
    sandbox = Path(os.path.realpath("/tmp")) / f"sbx-doc-{os.getpid()}"  # unix sockets: short
    sandbox.mkdir(mode=0o700)
    env = {**os.environ, "PATH": f"{Path(SEALBOX).parent}:{os.environ['PATH']}"}
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for command in block.commands:
            line = _localize(command, sandbox)
            if " serve " in f" {line} ":
                servers.append(_serve(line, sandbox, env))
                continue
            result = subprocess.run(
                ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, timeout=60
            )
            assert result.returncode == 0, (
                f"{block.where}: `{command}` failed ({result.returncode}): "
                f"{result.stderr.decode(errors='replace')}"
            )
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(20)
        subprocess.run(["rm", "-rf", str(sandbox)], check=False)
    assert all(server.returncode == 0 for server in servers), f"{block.where}: serve failed"


def _serve(line: str, sandbox: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a serving command; wait until its socket (named with --socket) answers."""
    words = shlex.split(line, comments=True)
    socket = Path(words[words.index("--socket") + 1])
    with (sandbox / "serve.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            words, cwd=sandbox, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    wait_until(lambda: socket.exists() or process.poll() is not None, timeout=30, what="the socket")
    assert process.poll() is None, (sandbox / "serve.log").read_text()
    return process


def test_the_demos_next_steps_parse() -> None:
    from sealbox.demo.walkthrough import NEXT_STEPS

    for command, _ in NEXT_STEPS:
        if command == "sealbox --help":
            continue  # the root's help: nothing to parse
        path, hidden = _parse(_words(command))
        assert path, command
        assert not hidden, command
