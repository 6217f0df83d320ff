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
# Libraries that may reach Kubernetes or etcd (so not pure) but are not commands: they never load
# the CLI or its rendering, so a command is the only place output is shaped.
LIBRARY_MODULES = ["sealbox.rotate"]
UI_MODULES = ["typer", "rich", "click", "sealbox.cli", "sealbox.render"]


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


@pytest.mark.parametrize("module", LIBRARY_MODULES)
def test_library_module_imports_no_command_layer(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {UI_MODULES!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} pulled in {result.stdout.strip()}"
