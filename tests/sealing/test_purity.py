"""``sealbox.sealing`` is the pure wire format: importing it loads no Kubernetes client, CLI or
gRPC library (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

EDGE_MODULES = ["grpc", "lightkube", "typer", "rich", "click", "httpx"]


def test_the_sealing_package_imports_no_edge_library() -> None:
    probe = (
        "import sys, sealbox.sealing\n"
        f"print(','.join(m for m in {EDGE_MODULES!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
