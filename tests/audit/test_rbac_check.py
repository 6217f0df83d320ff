"""The RBAC controls on the corpus and on focused inputs: exact findings, allowlist, no values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sealbox.audit.checks.rbac import CONTROLS, RbacSettings, check
from sealbox.audit.loader import load_paths, load_text
from sealbox.audit.model import Finding, Manifest, Severity
from sealbox.audit.rbac import Identity, who_can_read

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
MARKER = re.compile(r"s3cr3t-marker")


def _corpus() -> list[Manifest]:
    result = load_paths([str(CORPUS / "rbac")])
    # kubebuilder writes kustomization.yaml files without kind/apiVersion: the loader reports
    # them as not audited, and the RBAC check reads them on its own.
    unread = {Path(p.location.path).name for p in result.problems}
    assert unread <= {"kustomization.yaml"}, result.problems
    return result.manifests


Row = tuple[str, int, str, str | None]


def _row(finding: Finding) -> Row:
    path = Path(finding.location.path).resolve().relative_to(CORPUS).as_posix()
    obj = None if finding.obj is None else str(finding.obj)
    return (path, finding.location.line, finding.control.id, obj)


def _key(row: Row) -> tuple[str, int, str, str]:
    return (row[0], row[1], row[2], row[3] or "")


def test_corpus_matches_the_expected_findings_exactly() -> None:
    expected: list[Row] = [
        (e["file"], e["line"], e["id"], e["object"])
        for e in yaml.safe_load((HERE / "expected" / "rbac.yaml").read_text())
    ]
    found = [_row(f) for f in check(_corpus(), RbacSettings())]
    assert sorted(found, key=_key) == sorted(expected, key=_key)


def test_every_control_has_a_positive_case_in_the_corpus() -> None:
    fired = {f.control.id for f in check(_corpus(), RbacSettings())}
    assert fired == {c.id for c in CONTROLS}


def test_controls_are_well_formed() -> None:
    ids = [c.id for c in CONTROLS]
    assert len(set(ids)) == len(ids)
    for control in CONTROLS:
        assert re.fullmatch(r"SBX-3\d\d", control.id)
        assert control.area == "rbac"
        assert all((control.title, control.rationale, control.remediation))
        assert control.mappings, control.id
    severities = {c.id: c.severity for c in CONTROLS}
    assert severities["SBX-305"] is Severity.CRITICAL
    assert severities["SBX-301"] > severities["SBX-302"] > severities["SBX-303"]


def test_no_secret_value_reaches_findings_or_who_can_read() -> None:
    manifests = _corpus()
    texts = [json.dumps([f.message, dict(f.details)]) for f in check(manifests, RbacSettings())]
    for namespace, name in (("team-a", "db-password"), ("team-h", "db-creds")):
        texts += [json.dumps(a.as_dict()) for a in who_can_read(manifests, namespace, name)]
    raw = "".join(p.read_text() for p in (CORPUS / "rbac").glob("*.yaml"))
    assert len(MARKER.findall(raw)) == 2  # the corpus does hold the values...
    assert not any(MARKER.search(text) for text in texts)  # ...and no output repeats them


def test_message_and_details_name_subject_binding_role_and_rule() -> None:
    rbac = CORPUS / "rbac"
    (finding,) = [
        f
        for f in check(_corpus(), RbacSettings(scan_roots=(str(rbac),)))
        if "alice-lists" in str(f.obj)
    ]
    assert finding.message == (
        "User alice can list and watch every Secret in namespace team-a: "
        "User alice \u2192 RoleBinding team-a/alice-lists (line 13) "
        "\u2192 Role team-a/secret-lister \u2192 rule 0 (line 8)"
    )
    assert finding.details["path"] == [finding.message.partition(": ")[2]]
    details = dict(finding.details)
    assert details["subject"] == {"kind": "User", "name": "alice"}
    assert details["scope"] == "team-a"
    assert details["how"] == ["list", "watch"]
    (link,) = details["chain"]
    assert link["role"] == "Role team-a/secret-lister"
    assert link["ruleLocation"].endswith("list-vs-get.yaml:8")
    json.dumps(details)


def test_aggregated_rule_names_its_source_role() -> None:
    findings = check(_corpus(), RbacSettings())
    (finding,) = [f for f in findings if f.control.id == "SBX-301" and "prometheus" in str(f.obj)]
    (link,) = finding.details["chain"]
    assert link["aggregatedFrom"] == "ClusterRole monitoring-secrets"
    assert "rule 0 of ClusterRole monitoring-secrets" in finding.message


def test_paths_of_the_same_binding_are_folded_into_the_list_finding() -> None:
    (finding,) = [f for f in check(_corpus(), RbacSettings()) if "ida-edits" in str(f.obj)]
    assert finding.control.id == "SBX-302"
    also = finding.details["alsoAllows"]
    assert {"create pods", "pods/exec", "impersonate serviceaccounts"} <= set(also)


def test_reaching_paths_list_who_they_reach() -> None:
    findings = check(_corpus(), RbacSettings())
    (mallory,) = [f for f in findings if "mallory-as-trent" in str(f.obj)]
    assert mallory.details["reaches"] == ["User trent"]


SYSTEM_GROUPS = {
    "Group system:authenticated",
    "Group system:unauthenticated",
    "Group system:serviceaccounts",
}
DEFAULT_ACCOUNTS = {"ServiceAccount team-e/default", "ServiceAccount team-f/default"}


@pytest.mark.parametrize(
    ("patterns", "silenced"),
    [
        (("User:alice",), {"User alice"}),
        (("User:a*",), {"User alice", "User amy", "User abe"}),
        (("ServiceAccount:ops/*",), {"ServiceAccount ops/robot"}),
        (("ServiceAccount:*/default",), DEFAULT_ACCOUNTS),
        (("Group:system:*",), SYSTEM_GROUPS),
        (("user:alice",), set()),  # patterns are case-sensitive
    ],
)
def test_allowlisted_subjects_raise_nothing(patterns: tuple[str, ...], silenced: set[str]) -> None:
    manifests = _corpus()
    subjects = {_subject(f) for f in check(manifests, RbacSettings())}
    assert silenced <= subjects
    kept = {_subject(f) for f in check(manifests, RbacSettings(allowed_subjects=patterns))}
    assert kept == subjects - silenced


def _subject(finding: Finding) -> str:
    subject = finding.details["subject"]
    identity = Identity(subject["kind"], subject["name"], subject.get("namespace", ""))
    return str(identity)


def test_allowlisted_subjects_still_show_in_who_can_read() -> None:
    manifests = _corpus()
    assert not [f for f in check(manifests, RbacSettings(("User:alice",))) if "alice" in f.message]
    assert "User alice" in {a.subject for a in who_can_read(manifests, "team-a", "db-password")}


def _load(text: str) -> list[Manifest]:
    result = load_text(text, "inline.yaml")
    assert result.problems == []
    return result.manifests


TWO_BINDINGS = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
  - {apiGroups: [""], resources: [secrets], verbs: [list]}
  - {apiGroups: [""], resources: [secrets], verbs: [watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: one, namespace: ns}
roleRef: {kind: ClusterRole, name: reader}
subjects: [{kind: User, name: sam}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: two, namespace: ns}
roleRef: {kind: ClusterRole, name: reader}
subjects: [{kind: User, name: sam}, {kind: Group, name: "system:masters"}]
"""


def test_one_finding_per_binding_not_per_rule() -> None:
    findings = list(check(_load(TWO_BINDINGS), RbacSettings()))
    assert [(f.control.id, str(f.obj)) for f in findings] == [
        ("SBX-302", "RoleBinding ns/one"),
        ("SBX-302", "RoleBinding ns/two"),
    ]
    assert findings[0].details["how"] == ["list", "watch"]
    assert len(findings[0].details["chain"]) == 2


def test_findings_do_not_depend_on_input_order() -> None:
    manifests = _corpus()
    forward = [(f.message, json.dumps(dict(f.details))) for f in check(manifests, RbacSettings())]
    backward = [
        (f.message, json.dumps(dict(f.details)))
        for f in check(list(reversed(manifests)), RbacSettings())
    ]
    assert forward == backward


def test_no_input_no_findings() -> None:
    assert list(check([], RbacSettings())) == []
