"""Help texts that read well at any terminal width.

Commands write their help as docstrings wrapped for the source file. Typer keeps the line breaks
of every paragraph after the first, so a terminal narrower than the source breaks each line again
and leaves a short orphan line behind. :func:`reflow` joins the lines of each prose paragraph (the
terminal then wraps it once, at its own width) and keeps indented blocks, the examples, exactly as
written so they still paste as commands.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

__all__ = ["reflow", "reflow_tree"]


def reflow(text: str) -> str:
    """``text`` with each prose paragraph on one line; paragraphs with an indented line kept."""
    first, *rest = inspect.cleandoc(text).split("\n\n")
    if not rest:
        return " ".join(first.split())
    body = "\n\n".join(
        paragraph if _is_block(paragraph) else " ".join(paragraph.split()) for paragraph in rest
    )
    # Typer dedents the paragraphs after the first as one docstring, whose first line does not
    # count: were it the only prose line, the examples would lose their indent. A blank first line
    # (dropped when rendered) keeps them.
    return f"{' '.join(first.split())}\n\n\n{body}"


def reflow_tree(command: Any) -> None:
    """Reflow the help of ``command`` and of every command under it (a click command tree)."""
    for node in _walk(command):
        if node.help:
            node.help = reflow(node.help)


def _is_block(paragraph: str) -> bool:
    return any(line.startswith((" ", "\t", "\b")) for line in paragraph.splitlines())


def _walk(command: Any) -> Iterator[Any]:
    yield command
    for sub in (getattr(command, "commands", None) or {}).values():
        yield from _walk(sub)
