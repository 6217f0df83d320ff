"""Builders for EncryptionConfiguration documents used across the config tests."""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from typing import Any

import yaml

from sealbox.encryption.config import ConfigReport, lint_config
from sealbox.errors import ConfigIssue

DROP = object()  # marks a field to leave out of a kms block


def secret(size: int, seed: int = 0) -> str:
    """Standard base64 of ``size`` reproducible random bytes."""
    return base64.b64encode(random.Random(seed).randbytes(size)).decode()


def keys(kind: str, *secrets: str) -> dict[str, Any]:
    return {kind: {"keys": [{"name": f"key{i}", "secret": s} for i, s in enumerate(secrets)]}}


def kms(**fields: Any) -> dict[str, Any]:
    block = {"apiVersion": "v2", "name": "kms", "endpoint": "unix:///run/kms.sock"}
    block.update(fields)
    return {"kms": {k: v for k, v in block.items() if v is not DROP}}


def entry(*providers: dict[str, Any], resources: Sequence[str] = ("secrets",)) -> dict[str, Any]:
    return {"resources": list(resources), "providers": list(providers)}


def doc(*entries: dict[str, Any], **top: Any) -> str:
    document: dict[str, Any] = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
    }
    document.update(top)
    document["resources"] = list(entries)
    return yaml.safe_dump(document, sort_keys=False)


def lint(text: str, *, reload: bool = False) -> ConfigReport:
    return lint_config(text, "test.yaml", reload=reload)


def assert_issue(issues: Sequence[ConfigIssue], path: str, phrase: str) -> None:
    found = [issue for issue in issues if issue.path == path]
    assert any(phrase in issue.message for issue in found), (path, phrase, issues)
