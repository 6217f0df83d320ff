"""``sealbox audit`` through the real root command: formats, exit codes, suppressions, no values."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sealbox.cli import app

MARKER = "s3cr3t-marker-cli-7f1d"
SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
type: Opaque
stringData:
  password: {MARKER}
data:
  token: {base64.b64encode(MARKER.encode()).decode()}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  template:
    spec:
      automountServiceAccountToken: false
      containers:
      - name: api
        image: shop/api:1
        env:
        - name: DB_PASSWORD
          valueFrom:
            secretKeyRef: {name: db, key: password}
"""
RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-db, namespace: shop}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci-reads, namespace: shop}
subjects:
- {kind: User, name: ci-bot}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-db}
"""
CLEAN = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data:
  LOG_LEVEL: info
"""


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    """Exit code and stdout+stderr."""
    result = CliRunner().invoke(app, ["audit", *args], input=stdin)
    return result.exit_code, result.output


def _stdout(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args], input=stdin)
    return result.exit_code, result.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "secret.yaml").write_text(SECRET)
    (tmp_path / "apps" / "deploy.yaml").write_text(DEPLOYMENT)
    (tmp_path / "rbac.yaml").write_text(RBAC)
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    return tmp_path


def _json(*args: str) -> tuple[int, dict[str, Any]]:
    code, out = _stdout(*args, "-o", "json")
    return code, json.loads(out)


def test_findings_at_or_above_fail_on_set_the_exit_code(repo: Path) -> None:
    code, report = _json(str(repo))
    assert code == 1
    ids = sorted({f["id"] for f in report["findings"]})
    assert ids == ["SBX-101", "SBX-201", "SBX-302"]
    assert code == 1
    assert _run(str(repo), "--fail-on", "critical")[0] == 0
    assert _run(str(repo), "--fail-on", "never")[0] == 0
    assert _run(str(repo), "--fail-on", "medium")[0] == 1


def test_clean_input_exits_zero_and_explicit_scan_word_works(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(CLEAN)
    code, out = _run("scan", str(tmp_path))
    assert code == 0
    assert "PASSED (fail-on high)" in out


def test_input_problems_are_reported_and_the_scan_goes_on(repo: Path) -> None:
    code, report = _json(str(repo))
    problems = report["inputProblems"]
    assert code == 1
    assert [(Path(p["file"]).name, p["line"]) for p in problems] == [("broken.yaml", 1)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/dir"], "no such file or directory: /no/such/dir"),
        ([], "nothing to audit"),
        (["--encryption-config", "/no/such.yaml"], "no such file or directory"),
        (["--fail-on", "severe", "."], "Invalid value for '--fail-on'"),
    ],
)
def test_usage_errors_exit_two(args: list[str], message: str) -> None:
    code, out = _run("scan", *args)
    assert code == 2
    assert message in out


def test_stdin_is_a_manifest_source() -> None:
    code, out = _stdout("-", "-o", "json", stdin=SECRET)
    assert code == 1
    findings = json.loads(out)["findings"]
    # One finding for the stringData block, one for the data block.
    assert [(f["id"], f["file"], f["line"]) for f in findings] == [
        ("SBX-201", "<stdin>", 8),
        ("SBX-201", "<stdin>", 10),
    ]


def test_no_output_format_prints_a_secret_value(repo: Path, tmp_path: Path) -> None:
    outputs = []
    for fmt in ("table", "json", "sarif", "html"):
        outputs.append(_run(str(repo), "-o", fmt)[1])
    outputs.append(_run("who-can-read", "shop/db", str(repo), "-o", "json")[1])
    encoded = base64.b64encode(MARKER.encode()).decode()
    for output in outputs:
        assert "SBX-201" in output or "ci-bot" in output
        assert MARKER not in output
        assert encoded not in output
    # The key names are what a finding shows instead.
    assert "password" in outputs[1]
    assert "token" in outputs[1]


def test_sarif_and_html_go_to_a_file(repo: Path, tmp_path: Path) -> None:
    sarif_file = tmp_path / "out.sarif"
    code, out = _run(str(repo), "-o", "sarif", "--output-file", str(sarif_file))
    assert code == 1
    assert out.startswith(f"wrote sarif report to {sarif_file}: ")
    sarif = json.loads(sarif_file.read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"SBX-101", "SBX-201", "SBX-302"}
    html_file = tmp_path / "out.html"
    assert _run(str(repo), "-o", "html", "--output-file", str(html_file))[0] == 1
    page = html_file.read_text()
    assert page.startswith("<!DOCTYPE html>") or page.lower().startswith("<!doctype html>")
    assert "SBX-302" in page


def test_annotation_and_ignore_file_suppress_and_no_ignore_reports_all(repo: Path) -> None:
    annotated = DEPLOYMENT.replace(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations:\n    sealbox.io/ignore: SBX-101\n",
        1,
    )
    (repo / "apps" / "deploy.yaml").write_text(annotated)
    (repo / ".sealbox-ignore.yaml").write_text(
        "ignore:\n"
        "- id: SBX-302\n"
        "  object: RoleBinding shop/ci-reads\n"
        "  reason: CI reads the shop secrets to deploy\n"
    )
    code, report = _json(str(repo))
    assert code == 1  # the plaintext Secret is still there
    assert [f["id"] for f in report["findings"]] == ["SBX-201", "SBX-201"]
    suppressed = {(s["id"], s["reason"]) for s in report["suppressed"]}
    assert suppressed == {
        ("SBX-101", "no reason given"),
        ("SBX-302", "CI reads the shop secrets to deploy"),
    }
    _, everything = _json(str(repo), "--no-ignore")
    assert sorted(f["id"] for f in everything["findings"]) == [
        "SBX-101",
        "SBX-201",
        "SBX-201",
        "SBX-302",
    ]


def test_malformed_ignore_file_is_a_usage_error(repo: Path) -> None:
    (repo / ".sealbox-ignore.yaml").write_text("ignore:\n- id: SBX-302\n")
    code, out = _run(str(repo))
    assert code == 2
    assert "every suppression must say why" in out


def test_who_can_read_names_subjects_and_paths(repo: Path) -> None:
    code, out = _stdout("who-can-read", "shop/db", str(repo), "-o", "json")
    assert code == 0
    document = json.loads(out)
    assert document["secret"] == {"namespace": "shop", "name": "db"}
    readers = [(r["subject"], r["how"], r["direct"]) for r in document["readers"]]
    assert ({"kind": "User", "name": "ci-bot"}, "list", True) in readers
    assert ({"kind": "Group", "name": "system:masters"}, "system:masters", True) in readers
    code, table = _run("who-can-read", "shop/db", str(repo))
    assert code == 0
    assert "User ci-bot" in table
    assert "RoleBinding shop/ci-reads" in table
    assert "warning: " in table  # the broken file is named, the answer still comes
    assert _run("who-can-read", "shop-db", str(repo))[0] == 2
    assert _run("who-can-read", "shop/db", "/no/such")[0] == 2


def test_controls_lists_the_catalog() -> None:
    code, out = _run("controls", "-o", "json")
    assert code == 0
    controls = json.loads(out)
    ids = [c["id"] for c in controls]
    assert ids == sorted(ids)
    assert {"SBX-101", "SBX-201", "SBX-301", "SBX-403", "SBX-502", "SBX-601"} <= set(ids)
    assert all(c["rationale"] and c["remediation"] for c in controls)


def test_help_teaches() -> None:
    code, out = _run("--help")
    assert code == 0
    for word in ("who-can-read", "controls", "sealbox audit ./deploy"):
        assert word in out
