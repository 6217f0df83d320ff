"""Command line: each module parses one command group, calls the library and renders the result.

:data:`app` is the ``sealbox`` (and ``kubectl-sealbox``) typer application; :func:`run` is the
console-script entry point. Command modules load their libraries inside each command, so a
command pays only for what it uses at start-up.
"""

from __future__ import annotations

from sealbox.cli.main import app, run

__all__ = ["app", "run"]
