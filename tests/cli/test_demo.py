"""``sealbox demo`` (what ``make run`` shows) really runs end to end."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sealbox.cli import app


@pytest.mark.integration
def test_demo_runs_and_cleans_up() -> None:
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "total 44 (identity: 44)" in out
    assert "rewrote 44 values" in out
    assert "total 44 (kms-v2: 44)" in out
    assert "stale 0, undecryptable 0" in out
    assert "identical to what was seeded: yes" in out
    assert "Plaintext password still in etcd: no" in out
    assert "Done: every process and file the demo created is gone." in out
    for control, where in (
        ("SBX-201", "deploy/db-credentials.yaml:4"),  # a plaintext Secret committed
        ("SBX-301", "deploy/rbac.yaml:9"),  # a ServiceAccount that lists every Secret
        ("SBX-101", "deploy/api.yaml:14"),  # a Secret in a container's environment
    ):
        assert control in out
        assert where in out
    assert "committed-by-mistake" not in out  # the audit never prints a value
    assert "identical to the manifest: yes" in out  # sealed, then opened by the cluster's key
    assert "copied to namespace attacker │ refused: NoMatchingKey" in out
    assert "each cluster opens it: yes" in out  # one envelope, two recipients
    assert "demo-token-not-a-real-secret" not in out
    assert out.rstrip().endswith("every command; each --help has examples")
