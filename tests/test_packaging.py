"""What the package says about itself is what it does: pyproject's description and the root
--help name every command group Sealbox has, and no feature it does not have yet."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import typer

from sealbox.cli import app

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"
ROOT = typer.main.get_command(app)
GROUPS = set(ROOT.commands)  # type: ignore[attr-defined]  # the root is a group

# what a text says (a word, any case) -> the command group that must exist for it to be true
CLAIMS = {
    r"KMS v2 plugin": "kms",
    r"etcd": "etcd",
    r"audit": "audit",
    r"EncryptionConfiguration": "config",
    r"seal(s|ed|ing)?": "seal",  # GitOps sealing
    r"sync(s|ed|ing)?": "sync",  # from external stores
    r"external": "sync",
    r"rotation": "rotate",
    r"rollouts?": "sync",
}
# the groups a description has to mention (the demo is a tour of them, not a feature)
FEATURES = {"kms", "etcd", "audit", "seal"}


def _claims(text: str) -> set[str]:
    return {
        group
        for phrase, group in CLAIMS.items()
        if re.search(rf"\b{phrase}\b", text, flags=re.IGNORECASE)
    }


def _description() -> str:
    with PYPROJECT.open("rb") as file:
        return str(tomllib.load(file)["project"]["description"])


def test_the_claims_table_reads_the_old_description_as_false() -> None:
    old = "KMS v2 encryption at rest, offline etcd tools, sealing, sync and audit."
    assert _claims(old) == {"etcd", "audit", "seal", "sync"}
    assert "sync" not in GROUPS  # so the old description claimed a feature that did not exist


def test_pyproject_describes_what_exists() -> None:
    claims = _claims(_description())
    assert claims <= GROUPS, f"describes what does not exist: {claims - GROUPS}"
    assert claims >= FEATURES, f"leaves out: {FEATURES - claims}"


def test_the_root_help_describes_what_exists() -> None:
    claims = _claims(ROOT.help or "")
    assert claims <= GROUPS, f"describes what does not exist: {claims - GROUPS}"
    assert claims >= FEATURES, f"leaves out: {FEATURES - claims}"
