"""Links from the docs into deploy/ (and to the Containerfile) lead to files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO

DOCS = [REPO / "README.md", REPO / "deploy" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _links() -> list[tuple[str, Path]]:
    found = []
    for doc in DOCS:
        for target in _LINK.findall(doc.read_text(encoding="utf-8")):
            resolved = (doc.parent / target).resolve()
            if "://" not in target and (
                REPO / "deploy" in (resolved, *resolved.parents)
                or resolved == REPO / "Containerfile"
            ):
                found.append((f"{doc.relative_to(REPO)} -> {target}", resolved))
    return found


LINKS = _links()


def test_docs_link_the_deployment() -> None:
    assert len(LINKS) >= 5


@pytest.mark.parametrize(("where", "target"), LINKS, ids=[w for w, _ in LINKS])
def test_link_exists(where: str, target: Path) -> None:
    assert target.exists(), where
