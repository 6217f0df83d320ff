"""``python -m sealbox`` runs the command line."""

from __future__ import annotations

from sealbox.cli import run

run()
