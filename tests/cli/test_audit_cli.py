"""``sealbox audit`` through the real root command: formats, exit codes, suppressions, no values."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
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
        (
            ["--encryption-config", "/no/such.yaml"],
            "--encryption-config /no/such.yaml: no such file",
        ),
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


def test_yaml_is_the_json_document(repo: Path) -> None:
    code, as_json = _stdout(str(repo), "-o", "json")
    assert code == 1
    code, as_yaml = _stdout(str(repo), "-o", "yaml")
    assert code == 1
    assert yaml.safe_load(as_yaml) == json.loads(as_json)
    for command in (["who-can-read", "shop/db", str(repo)], ["controls"]):
        _, listed_json = _stdout(*command, "-o", "json")
        _, listed_yaml = _stdout(*command, "-o", "yaml")
        assert yaml.safe_load(listed_yaml) == json.loads(listed_json)


@pytest.mark.parametrize(
    "command",
    [["scan", "{repo}", "-o", "json"], ["who-can-read", "shop/db", "{repo}"], ["controls"]],
    ids=["scan", "who-can-read", "controls"],
)
def test_an_output_file_is_replaced_only_with_force(
    repo: Path, tmp_path: Path, command: list[str]
) -> None:
    argv = [word.format(repo=repo) for word in command]
    target = tmp_path / "out" / "report.txt"
    target.parent.mkdir()
    target.write_text("keep me")
    code, out = _run(*argv, "--output-file", str(target))
    assert code == 2
    assert out == f"error: --output-file {target}: already exists; pass --force to overwrite it\n"
    assert target.read_text() == "keep me"
    code, out = _run(*argv, "--output-file", str(target), "--force")
    assert code in (0, 1)
    assert f"wrote {'json report' if argv[0] == 'scan' else 'table'} to {target}" in out
    assert target.read_text() != "keep me"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["report.txt"]  # no temp file left


def test_an_interrupted_write_leaves_nothing_behind(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("sealbox.cli.io.os.link", interrupted)  # between temp file and rename
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = CliRunner().invoke(
        app, ["audit", str(repo), "-o", "html", "--output-file", str(out_dir / "a.html")]
    )
    assert result.exit_code == 130  # interrupted
    assert list(out_dir.iterdir()) == []  # neither the report nor its temp file


def test_tables_go_to_a_file_too(repo: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    code, out = _run(str(repo), "--output-file", str(report))
    assert code == 1
    assert out.startswith(f"wrote table report to {report}: 2 high, 2 medium")
    assert "SBX-201" in report.read_text()
    readers = tmp_path / "readers.txt"
    assert _run("who-can-read", "shop/db", str(repo), "--output-file", str(readers))[0] == 0
    assert "User ci-bot" in readers.read_text()


def test_counts_read_as_words(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text(SECRET.replace("data:\n  token:", "labels:\n  token:"))
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    code, out = _run(str(tmp_path))
    assert code == 1
    assert "1 finding (0 critical, 1 high" in out
    assert "· 1 input problem · 2 files, 1 object" in out
    (tmp_path / "cm.yaml").write_text(CLEAN)
    code, out = _run(str(tmp_path), "--fail-on", "never")
    assert "· 3 files, 2 objects" in out


def test_configs_found_in_a_directory_are_audited_and_named(tmp_path: Path) -> None:
    """The issue's case: an EncryptionConfiguration and an audit Policy in a directory gave
    "No findings"; they are audited as their flags would, and the inputs say so."""
    corpus = Path(__file__).parents[1] / "audit" / "corpus"
    configs = tmp_path / "d2"
    configs.mkdir()
    (configs / "enc.yaml").write_text((corpus / "encryption/aesgcm-write.yaml").read_text())
    (configs / "policy.yaml").write_text((corpus / "audit-policy/no-catch-all.yaml").read_text())
    _, walked = _json(str(configs))
    _, flagged = _json(
        "--encryption-config",
        str(configs / "enc.yaml"),
        "--audit-policy",
        str(configs / "policy.yaml"),
    )
    assert walked["findings"]
    # the walked files are shown relative to the scanned directory, the flagged ones as given
    assert {f["file"] for f in walked["findings"]} == {"enc.yaml", "policy.yaml"}
    for finding in flagged["findings"]:
        finding["file"] = Path(finding["file"]).name
    assert walked["findings"] == flagged["findings"]
    audited = {(i["auditedAs"], i["from"]) for i in walked["sections"]["inputs"]}
    assert audited == {
        ("manifests", "argument"),
        ("EncryptionConfiguration", f"found in {configs}"),
        ("audit policy", f"found in {configs}"),
    }
    code, table = _run(str(configs))
    assert code == 0  # nothing at or above high
    assert "Inputs" in table
    assert "No findings" not in table


def test_an_empty_directory_does_not_pass(tmp_path: Path) -> None:
    code, out = _run(str(tmp_path))
    assert code == 2
    assert out.startswith("error: nothing to audit: no Kubernetes object, ")
    assert "PASSED" not in out
    code, out = _run("-", stdin="")
    assert code == 2
    assert "nothing to audit" in out
