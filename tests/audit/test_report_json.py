"""The JSON output: the documented shape, exact values, ordering, and no secret value anywhere."""

from __future__ import annotations

import json
from dataclasses import replace
from enum import Enum

import sealbox
from sealbox.audit.model import AuditReport, Finding, Location, ObjectRef, Severity
from sealbox.audit.report import to_json_dict
from tests.audit.report_sample import (
    ENV,
    F_IDENTITY,
    F_WILDCARD,
    HOSTILE_NAME,
    MARKER,
    SECTIONS,
    empty_report,
    sample_report,
)

FINDING_KEYS = {
    "id",
    "title",
    "severity",
    "message",
    "file",
    "line",
    "object",
    "scope",
    "alsoIn",
    "remediation",
    "details",
}


def test_top_level_shape_and_summary() -> None:
    data = to_json_dict(sample_report())
    assert list(data) == [
        "tool",
        "version",
        "summary",
        "findings",
        "suppressed",
        "inputProblems",
        "notAudited",
        "sections",
    ]
    assert data["tool"] == "sealbox"
    assert data["version"] == sealbox.__version__
    assert data["summary"] == {
        "total": 6,
        "bySeverity": {"critical": 1, "high": 2, "medium": 1, "low": 1, "info": 1},
        "failOn": "high",
        "failed": True,
        "files": 9,
        "objects": 23,
        "suppressed": 2,
        "inputProblems": 2,
        "notAudited": 0,
        "roots": [],
    }
    assert list(data["summary"]["bySeverity"]) == ["critical", "high", "medium", "low", "info"]


def test_findings_keep_report_order_and_carry_every_field() -> None:
    report = sample_report()
    findings = to_json_dict(report)["findings"]
    assert [f["id"] for f in findings] == [f.control.id for f in report.findings]
    assert [f["severity"] for f in findings] == [
        "critical",
        "high",
        "high",
        "medium",
        "low",
        "info",
    ]
    for item in findings:
        assert set(item) == FINDING_KEYS
    first = findings[0]
    assert first == {
        "id": "SBX-301",
        "title": F_WILDCARD.control.title,
        "severity": "critical",
        "message": F_WILDCARD.message,
        "file": "rbac/admin.yaml",
        "line": 12,
        "object": {"kind": "ClusterRoleBinding", "namespace": None, "name": "everyone"},
        "scope": "cluster",
        "alsoIn": [],
        "remediation": F_WILDCARD.control.remediation,
        "details": {
            "subject": "Group dev",
            "path": ["ClusterRoleBinding everyone", "ClusterRole admin-all"],
        },
    }
    identity = next(f for f in findings if f["id"] == F_IDENTITY.control.id)
    assert identity["object"] is None
    assert identity["line"] == 0
    assert identity["details"] == {}


def test_suppressed_and_input_problems() -> None:
    data = to_json_dict(sample_report())
    first = data["suppressed"][0]
    assert set(first) == FINDING_KEYS | {"reason", "source"}
    assert first["id"] == "SBX-101"
    assert first["object"] == {"kind": "Deployment", "namespace": "prod", "name": "worker"}
    assert first["reason"] == "legacy worker reads env only; tracked in OPS-12"
    assert first["source"] == "annotation sealbox.io/ignore"
    assert data["suppressed"][1]["source"] == ".sealbox-ignore.yaml:4"
    assert data["inputProblems"] == [
        {
            "file": "broken/bad.yaml",
            "line": 7,
            "message": "malformed YAML: mapping values are not allowed",
        },
        {"file": "blob.bin", "line": 0, "message": "binary file skipped"},
    ]
    assert data["sections"] == SECTIONS


def test_failed_follows_the_threshold() -> None:
    below = tuple(f for f in sample_report().findings if f.severity < Severity.CRITICAL)
    report = replace(sample_report(fail_on=Severity.CRITICAL), findings=below)
    summary = to_json_dict(report)["summary"]
    assert summary["failOn"] == "critical"
    assert summary["failed"] is False
    assert summary["bySeverity"]["critical"] == 0


class _Mode(Enum):
    READ = "read"


def test_unusual_detail_values_still_serialise() -> None:
    finding = Finding(
        ENV,
        "msg",
        Location("a.yaml", 1),
        ObjectRef("Pod", "ns", "p"),
        {
            "verbs": frozenset({"watch", "get", "list"}),
            "pair": ("a", 1),
            "mode": _Mode.READ,
            "severity": Severity.LOW,
            "where": Location("b.yaml", 2),
            "ratio": float("nan"),
        },
    )
    report = replace(empty_report(), findings=(finding,))
    text = json.dumps(to_json_dict(report), allow_nan=False)
    details = json.loads(text)["findings"][0]["details"]
    assert details == {
        "verbs": ["get", "list", "watch"],
        "pair": ["a", 1],
        "mode": "read",
        "severity": "low",
        "where": "b.yaml:2",
        "ratio": "nan",
    }


def test_empty_report() -> None:
    data = to_json_dict(empty_report())
    assert data["summary"]["total"] == 0
    assert data["summary"]["failed"] is False
    assert data["findings"] == data["suppressed"] == data["inputProblems"] == []
    assert data["sections"] == {}


def test_round_trips_through_json_without_values_and_with_hostile_names_verbatim() -> None:
    report: AuditReport = sample_report()
    text = json.dumps(to_json_dict(report))
    assert MARKER not in text
    decoded = json.loads(text)
    names = [f["object"]["name"] for f in decoded["findings"] if f["object"]]
    assert HOSTILE_NAME in names
