"""File names in reports are relative to the scanned path: one root, several roots, a file as a
root, stdin, and files named by flags; the same in the table, HTML and JSON, while SARIF keeps
its own base. Duplicated bundles show "also in N files" everywhere."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from sealbox.audit.engine import AuditOptions, run_audit
from sealbox.audit.model import AuditReport, Location
from sealbox.audit.report import render_table, to_html, to_json_dict, to_sarif
from sealbox.audit.report._paths import PathDisplay

SECRET_ENV = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      automountServiceAccountToken: false
      containers:
        - name: web
          image: web:1
          env:
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
"""


def _table(report: AuditReport) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    render_table(report, console)
    return console.export_text()


def test_one_root_shows_paths_relative_to_it(tmp_path: Path) -> None:
    root = tmp_path / "deploy"
    (root / "apps").mkdir(parents=True)
    shown = PathDisplay([str(root)])
    assert shown(str(root / "apps" / "web.yaml")) == "apps/web.yaml"
    assert shown.location(Location(str(root / "web.yaml"), 12)) == "web.yaml:12"
    assert shown("<stdin>") == "<stdin>"
    assert shown("/etc/kubernetes/enc.yaml") == "/etc/kubernetes/enc.yaml"  # under no root
    assert shown(str(tmp_path / "deployments" / "x.yaml")).endswith("deployments/x.yaml")


def test_several_roots_each_relative_to_its_own_under_its_name(tmp_path: Path) -> None:
    for name in ("charts/a", "charts/b", "x/deploy", "y/deploy"):
        (tmp_path / name).mkdir(parents=True)
    single = tmp_path / "one.yaml"
    single.write_text("")
    shown = PathDisplay([str(tmp_path / "charts/a"), str(tmp_path / "charts/b"), str(single)])
    assert shown(str(tmp_path / "charts/a/web.yaml")) == "a/web.yaml"
    assert shown(str(tmp_path / "charts/b/web.yaml")) == "b/web.yaml"
    assert shown(str(single)) == "one.yaml"
    # two roots of the same name are written as given, so their files stay apart
    given = [os.path.relpath(tmp_path / "x/deploy"), os.path.relpath(tmp_path / "y/deploy")]
    shown = PathDisplay(given)
    assert shown(str(tmp_path / "x/deploy/web.yaml")) == f"{os.path.normpath(given[0])}/web.yaml"
    # a root inside another: the nearer root wins
    nested = PathDisplay([str(tmp_path), str(tmp_path / "charts/a")])
    assert nested(str(tmp_path / "charts/a/web.yaml")) == "a/web.yaml"
    assert nested(str(tmp_path / "charts/b/web.yaml")) == f"{tmp_path.name}/charts/b/web.yaml"


def test_a_file_root_is_shown_by_its_name(tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SECRET_ENV)
    data = to_json_dict(run_audit(AuditOptions(paths=(str(manifest),))))
    assert {f["file"] for f in data["findings"]} == {"web.yaml"}
    assert data["summary"]["roots"] == [str(manifest)]


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    """Two copies of one overlay and a kind no control reads, under ``repo/``."""
    repo = tmp_path / "repo"
    for overlay in ("overlay-a", "overlay-b"):
        (repo / overlay).mkdir(parents=True)
        (repo / overlay / "web.yaml").write_text(SECRET_ENV)
    (repo / "crd.yaml").write_text(
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w1}\n---\n"
        "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w2}\n"
    )
    return repo


def test_every_format_shows_relative_paths_and_the_collapsed_copies(bundles: Path) -> None:
    report = run_audit(AuditOptions(paths=(str(bundles),)))
    root = str(bundles)

    data = to_json_dict(report)
    [env] = [f for f in data["findings"] if f["id"] == "SBX-101"]
    assert env["file"] == "overlay-a/web.yaml"
    assert env["alsoIn"] == [{"file": "overlay-b/web.yaml", "line": env["line"]}]
    assert data["notAudited"] == [{"kind": "Widget", "objects": 2, "file": "crd.yaml", "line": 1}]
    assert data["inputProblems"] == []
    assert root not in json.dumps([data["findings"], data["notAudited"]])

    table = _table(report)
    row = next(line for line in table.splitlines() if "SBX-101" in line)
    assert f"overlay-a/web.yaml:{env['line']}" in row
    assert "also in 1 file" in table
    assert "Not audited (1)" in table
    assert "kind Widget" in table
    assert "crd.yaml:1" in table
    assert "Input problems" not in table
    assert "0 input problems" in table
    assert root not in row

    page = to_html(report)
    assert f"<code>overlay-a/web.yaml:{env['line']}</code>" in page
    assert "<summary>also in 1 file</summary>" in page
    assert f"<li><code>overlay-b/web.yaml:{env['line']}</code></li>" in page
    assert 'id="not-audited"' in page

    # SARIF keeps its own base (%SRCROOT%) and lists the copies as related locations
    sarif = to_sarif(report, base_dir=bundles)
    [result] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "SBX-101"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "overlay-a/web.yaml", "uriBaseId": "%SRCROOT%"}
    [related] = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "overlay-b/web.yaml"
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [(n["level"], n["descriptor"]["id"]) for n in notes] == [("note", "not-audited")]
    assert "kind Widget (2 objects" in notes[0]["message"]["text"]


def test_stdin_stays_stdin() -> None:
    report = run_audit(AuditOptions(paths=("-",)), stdin=io.StringIO(SECRET_ENV))
    assert {f["file"] for f in to_json_dict(report)["findings"]} == {"<stdin>"}
    assert "<stdin>:" in _table(report)


def test_locations_a_check_puts_in_details_are_shown_relative_too(tmp_path: Path) -> None:
    """A check that puts a Location (not its text) into details gets it shortened like the rest:
    the RBAC chain's binding and rule, for instance."""
    from dataclasses import replace

    from sealbox.audit.model import Finding
    from tests.audit.report_sample import WILDCARD, sample_report

    where = Location(str(tmp_path / "rbac" / "binding.yaml"), 4)
    finding = Finding(WILDCARD, "m", where, details={"chain": [{"bindingLocation": where}]})
    report = replace(sample_report(), findings=(finding,), roots=(str(tmp_path),))
    [row] = to_json_dict(report)["findings"]
    assert row["details"] == {"chain": [{"bindingLocation": "rbac/binding.yaml:4"}]}
    assert "rbac/binding.yaml:4" in to_html(report)
    assert str(tmp_path) not in json.dumps(
        to_sarif(report, base_dir=tmp_path)["runs"][0]["results"]
    )
