"""``python -m sealbox`` runs the command line."""

from __future__ import annotations

from sealbox.cli.main import run

run()
