"""Suppressions: the object annotation, the ignore file, expiry and stale entries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sealbox.audit.loader import load_text
from sealbox.audit.model import Control, Finding, Location, ObjectRef, Severity
from sealbox.audit.suppress import apply_suppressions, load_ignore_file, parse_object
from sealbox.errors import InputError

ENV = Control("SBX-101", "Secret in env", Severity.MEDIUM, "r", "m")
RBAC = Control("SBX-301", "List secrets", Severity.HIGH, "r", "m")

MANIFESTS = load_text(
    """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: team-a
  annotations:
    sealbox.io/ignore: "SBX-101, SBX-199"
    sealbox.io/ignore-reason: legacy app reads env only
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  namespace: team-a
""",
    "deploy/apps.yaml",
).manifests


def _finding(control: Control, obj: ObjectRef, path: str = "deploy/apps.yaml") -> Finding:
    return Finding(control, f"{control.id} on {obj}", Location(path, 3), obj)


API = ObjectRef("Deployment", "team-a", "api")
WORKER = ObjectRef("Deployment", "team-a", "worker")
BINDING = ObjectRef("RoleBinding", "team-a", "ci")


def test_annotation_suppresses_only_its_object_and_ids() -> None:
    findings = [_finding(ENV, API), _finding(ENV, WORKER), _finding(RBAC, API)]
    kept, suppressed, problems = apply_suppressions(findings, MANIFESTS, [])
    assert [(f.control.id, f.obj) for f in kept] == [("SBX-101", WORKER), ("SBX-301", API)]
    assert [(s.finding.obj, s.reason, s.source) for s in suppressed] == [
        (API, "legacy app reads env only", "annotation sealbox.io/ignore")
    ]
    assert problems == []


def _ignore_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / ".sealbox-ignore.yaml"
    path.write_text(body)
    return path


def test_ignore_file_matches_by_id_object_and_file_glob(tmp_path: Path) -> None:
    path = _ignore_file(
        tmp_path,
        """\
ignore:
  - id: SBX-301
    object: RoleBinding team-a/ci
    reason: CI reads its deploy key
  - id: SBX-101
    file: deploy/*.yaml
    reason: env secrets accepted in deploy/
    expires: 2999-01-01
  - id: SBX-101
    object: Deployment team-z/gone
    reason: the object was deleted since
  - id: SBX-301
    reason: expired long ago
    expires: 2001-01-01
""",
    )
    entries = load_ignore_file(path)
    assert [e.where.line for e in entries] == [2, 5, 9, 12]
    findings = [
        _finding(RBAC, BINDING, "rbac/ci.yaml"),
        _finding(RBAC, ObjectRef("RoleBinding", "team-b", "ci"), "rbac/ci.yaml"),
        _finding(ENV, WORKER, "deploy/apps.yaml"),
        _finding(ENV, WORKER, "other/apps.yaml"),
    ]
    kept, suppressed, problems = apply_suppressions(findings, [], entries, base=tmp_path)
    assert [(f.obj, f.location.path) for f in kept] == [
        (ObjectRef("RoleBinding", "team-b", "ci"), "rbac/ci.yaml"),
        (WORKER, "other/apps.yaml"),
    ]
    assert [(s.reason, s.source) for s in suppressed] == [
        ("CI reads its deploy key", f"{path}:2"),
        ("env secrets accepted in deploy/", f"{path}:5"),
    ]
    assert sorted(p.message for p in problems) == [
        "suppression of SBX-101 matched no finding",
        "suppression of SBX-301 expired on 2001-01-01",
    ]


def test_expiry_is_judged_against_today(tmp_path: Path) -> None:
    path = _ignore_file(tmp_path, "ignore:\n- {id: SBX-101, reason: r, expires: 2030-06-01}\n")
    entries = load_ignore_file(path)
    finding = _finding(ENV, WORKER)
    before = apply_suppressions([finding], [], entries, today=dt.date(2030, 6, 1))
    after = apply_suppressions([finding], [], entries, today=dt.date(2030, 6, 2))
    assert (len(before[0]), len(before[1])) == (0, 1)
    assert (len(after[0]), len(after[1])) == (1, 0)
    assert after[2][0].message == "suppression of SBX-101 expired on 2030-06-01"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("ignore: {id: SBX-101}\n", "expected a mapping with an 'ignore:' list"),
        ("- id: SBX-101\n", "expected a mapping with an 'ignore:' list"),
        ("ignore:\n- {id: SBX-101}\n", ":2: ignore[0].reason: every suppression must say why"),
        ("ignore:\n- {id: C-0015, reason: r}\n", "ignore[0].id: expected a control id"),
        (
            "ignore:\n- {id: SBX-101, reason: r, colour: red}\n",
            "unknown field colour (valid: expires, file, id, object, reason)",
        ),
        ("ignore:\n- {id: SBX-101, reason: r, object: team-a/ci}\n", "ignore[0].object: object"),
        ("ignore:\n- {id: SBX-101, reason: r, expires: soon}\n", "expected a date"),
        ("ignore:\n- id: [unclosed\n", ": malformed YAML"),
        ("ignore:\n- just-a-string\n", "ignore[0]: expected a mapping"),
    ],
)
def test_malformed_ignore_files_are_usage_errors(tmp_path: Path, body: str, message: str) -> None:
    path = _ignore_file(tmp_path, body)
    with pytest.raises(InputError) as caught:
        load_ignore_file(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_empty_ignore_file_is_fine(tmp_path: Path) -> None:
    assert load_ignore_file(_ignore_file(tmp_path, "# nothing ignored yet\n")) == []


def test_parse_object() -> None:
    assert parse_object("RoleBinding team-a/ci") == BINDING
    assert parse_object("ClusterRole admin") == ObjectRef("ClusterRole", None, "admin")
    with pytest.raises(ValueError, match="Kind namespace/name"):
        parse_object("team-a/ci")
