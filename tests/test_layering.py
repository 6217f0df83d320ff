"""The pure core never imports the edges (grpc, typer, rich): checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE_MODULES = [
    "sealbox.encryption",
    "sealbox.ops",
    "sealbox.storage",
    "sealbox.encryption.chain",
    "sealbox.encryption.static",
    "sealbox.encryption.envelope",
    "sealbox.encryption.transformers",
    "sealbox.encryption.config",
    "sealbox.encryption.resources",
    "sealbox.storage.codec",
    "sealbox.storage.keys",
    "sealbox.storage.kv",
    "sealbox.ops.decode",
    "sealbox.audit.engine",
    "sealbox.audit.rbac",
    "sealbox.sealing",
    "sealbox.gotemplate",
    "sealbox.sync",
]
EDGE_MODULES = ["grpc", "typer", "rich", "click", "lightkube", "httpx", "httpx2", "hvac", "boto3"]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_edge_library(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {EDGE_MODULES!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} pulled in {result.stdout.strip()}"
