"""The opt-in example of docs/sync.md "Rollout" does what the text around it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sealbox.sync import ConsumerIndex, WorkloadRef

DOC = Path(__file__).resolve().parents[2] / "docs" / "sync.md"


def _rollout_example() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    start = re.search(r"^## Rollout$", text, re.MULTILINE)
    assert start is not None, "docs/sync.md: no Rollout section"
    section = text[start.end() :].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None, "docs/sync.md: no YAML example in the Rollout section"
    document: dict[str, Any] = yaml.safe_load(block.group(1))
    return document


def test_the_documented_deployment_restarts_only_for_its_env_key() -> None:
    index = ConsumerIndex()
    ref = index.put(_rollout_example())
    assert ref == WorkloadRef("Deployment", "shop", "shop")
    assert index.restart_needed("shop", "shop-db", {"password"}) == [ref]
    assert index.restart_needed("shop", "shop-db", {"username"}) == []
    assert index.restart_needed("shop", "shop-tls", {"tls.crt", "tls.key"}) == []
    assert index.consumers("shop", "shop-tls") == [ref]
