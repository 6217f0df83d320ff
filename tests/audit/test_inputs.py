"""What one audit reads, and as what: configs found by kind, and no pass on nothing.

* An EncryptionConfiguration or ``audit.k8s.io`` Policy found while walking the paths is judged
  exactly as the file named by ``--encryption-config`` or ``--audit-policy`` (the whole corpus of
  both areas is checked both ways), also inside a YAML stream (at its own lines), as JSON and on
  stdin; a file named by a flag and found in a directory is judged once; the report says which
  input was read as what.
* Inputs with nothing the audit reads are an :class:`InputError`, never a passing report.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sealbox.audit import AuditOptions, AuditReport, run_audit
from sealbox.errors import InputError

CORPUS = Path(__file__).parent / "corpus"
ENCRYPTION = CORPUS / "encryption" / "aesgcm-write.yaml"
POLICY = CORPUS / "audit-policy" / "catch-all-first.yaml"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  template:
    spec:
      automountServiceAccountToken: false
      containers:
      - {name: api, image: shop/api:1}
"""
EVENT = (
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1",'
    '"stage":"ResponseComplete","verb":"get","user":{"username":"alice"},'
    '"objectRef":{"resource":"secrets","namespace":"shop","name":"db"},'
    '"responseStatus":{"code":200}}\n'
)


def _rows(report: AuditReport, root: Path | None = None) -> list[tuple[str, str, int, str]]:
    """(id, file, line, message) of every finding; files relative to ``root`` when given."""
    rows = []
    for finding in report.findings:
        path = Path(finding.location.path)
        name = path.resolve().relative_to(root.resolve()).as_posix() if root else str(path)
        rows.append((finding.control.id, name, finding.location.line, finding.message))
    return sorted(rows)


BY_FLAG: dict[str, Callable[[Path], AuditOptions]] = {
    "encryption": lambda path: AuditOptions(encryption_config=path, fail_on=None),
    "audit-policy": lambda path: AuditOptions(audit_policy=path, fail_on=None),
}


@pytest.mark.parametrize("area", sorted(BY_FLAG))
def test_configs_found_in_a_directory_are_judged_exactly_as_their_flag_would(
    tmp_path: Path, area: str
) -> None:
    shutil.copytree(CORPUS / area, tmp_path / area)
    walked = run_audit(AuditOptions(paths=(str(tmp_path),), fail_on=None))
    by_flag: list[tuple[str, str, int, str]] = []
    for path in sorted((tmp_path / area).glob("*.yaml")):
        by_flag += _rows(run_audit(BY_FLAG[area](path)), tmp_path)
    assert by_flag, "the corpus raised nothing"
    assert _rows(walked, tmp_path) == sorted(by_flag)
    assert walked.objects == 0
    assert walked.files == len(list((tmp_path / area).glob("*.yaml")))


def test_a_config_inside_a_stream_keeps_its_lines(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(DEPLOYMENT + "---\n" + ENCRYPTION.read_text())
    shift = DEPLOYMENT.count("\n") + 1  # the deployment and the --- line
    report = run_audit(AuditOptions(paths=(str(tmp_path),)))
    alone = run_audit(AuditOptions(encryption_config=ENCRYPTION))
    expected = [(i, str(tmp_path / "all.yaml"), line + shift, m) for i, _, line, m in _rows(alone)]
    assert [row for row in _rows(report) if row[0].startswith("SBX-4")] == sorted(expected)
    assert report.objects == 1  # the Deployment; the config is not an object
    inputs = report.sections["inputs"]
    assert {
        "input": f"{tmp_path / 'all.yaml'}:{shift + 2}",
        "auditedAs": "EncryptionConfiguration",
        "from": f"found in {tmp_path}",
    } in inputs


def test_a_config_as_json_and_on_stdin_is_judged(tmp_path: Path) -> None:
    document = yaml.safe_load(ENCRYPTION.read_text())
    (tmp_path / "enc.json").write_text(json.dumps(document, indent=2))
    as_json = run_audit(AuditOptions(paths=(str(tmp_path / "enc.json"),)))
    on_stdin = run_audit(AuditOptions(paths=("-",)), stdin=io.StringIO(ENCRYPTION.read_text()))
    assert {row[0] for row in _rows(as_json)} == {"SBX-406", "SBX-408"}
    assert [(i, f, line) for i, f, line, _ in _rows(on_stdin)] == [
        ("SBX-406", "<stdin>", 7),
        ("SBX-408", "<stdin>", 7),
    ]


def test_a_file_named_by_a_flag_and_found_in_a_directory_is_judged_once(tmp_path: Path) -> None:
    shutil.copy(ENCRYPTION, tmp_path / "enc.yaml")
    shutil.copy(POLICY, tmp_path / "policy.yaml")
    report = run_audit(
        AuditOptions(paths=(str(tmp_path),), encryption_config=tmp_path / "enc.yaml")
    )
    ids = [row[0] for row in _rows(report)]
    assert ids.count("SBX-406") == 1
    assert "SBX-503" in ids  # the policy, found by kind
    assert report.files == 2
    assert report.sections["inputs"] == [
        {"input": str(tmp_path), "auditedAs": "manifests", "from": "argument"},
        {
            "input": str(tmp_path / "enc.yaml"),
            "auditedAs": "EncryptionConfiguration",
            "from": f"--encryption-config (also found in {tmp_path})",
        },
        {
            "input": f"{tmp_path / 'policy.yaml'}:4",
            "auditedAs": "audit policy",
            "from": f"found in {tmp_path}",
        },
    ]


def test_only_audit_k8s_io_policies_are_audit_policies(tmp_path: Path) -> None:
    kyverno = "apiVersion: kyverno.io/v1\nkind: Policy\nmetadata: {name: p, namespace: shop}\n"
    (tmp_path / "kyverno.yaml").write_text(kyverno)
    report = run_audit(AuditOptions(paths=(str(tmp_path),)))
    assert report.findings == ()
    assert report.objects == 1
    assert [row["auditedAs"] for row in report.sections["inputs"]] == ["manifests"]


def test_a_config_inside_a_list_is_reported_not_skipped_silently(tmp_path: Path) -> None:
    item = yaml.safe_load(ENCRYPTION.read_text())
    listed = {"apiVersion": "v1", "kind": "List", "items": [item]}
    (tmp_path / "list.yaml").write_text(yaml.safe_dump(listed) + "---\n" + DEPLOYMENT)
    report = run_audit(AuditOptions(paths=(str(tmp_path),)))
    messages = [problem.message for problem in report.problems]
    assert "an EncryptionConfiguration inside a List is not audited; give it a file of its own" in (
        messages
    )


def _nothing(paths: tuple[str, ...], stdin: str = "", **options: Any) -> str:
    with pytest.raises(InputError) as caught:
        run_audit(AuditOptions(paths=paths, **options), stdin=io.StringIO(stdin))
    return str(caught.value)


def test_an_empty_directory_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.yaml").write_text(DEPLOYMENT)  # hidden: not walked
    (tmp_path / "README.md").write_text("# not a manifest\n")
    message = _nothing((str(tmp_path),))
    assert message.startswith("nothing to audit: no Kubernetes object, EncryptionConfiguration")
    assert f"in {tmp_path} (walked 2 directories for .yaml, .yml, .json files" in message
    assert "hidden ones skipped; 0 files read)" in message
    assert "--encryption-config" in message


def test_empty_stdin_is_an_error_not_a_pass() -> None:
    message = _nothing(("-",), stdin="")
    assert message.startswith("nothing to audit: ")
    assert "in stdin (-); give YAML or JSON manifests with apiVersion and kind" in message
    assert "stdin (-)" in _nothing(("-",), stdin="# only a comment\n---\n")


def test_files_with_nothing_audited_in_them_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("kind: [\n")
    (tmp_path / "crd.yaml").write_text("apiVersion: x.io/v1\nkind: Widget\nmetadata: {name: w}\n")
    message = _nothing((str(tmp_path),))
    assert "2 files read" in message
    assert "broken.yaml:1: malformed YAML" in message
    assert "more problem" not in message  # a kind no control reads is not a problem
    assert "not audited: kind Widget (1 object, first at " in message


def test_anything_audited_is_enough(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "audit.log").write_text(EVENT)
    for options in (
        AuditOptions(paths=(str(empty),), encryption_config=ENCRYPTION),
        AuditOptions(paths=(str(empty),), audit_policy=POLICY),
        AuditOptions(paths=(str(empty),), audit_log=tmp_path / "audit.log"),
    ):
        assert run_audit(options).findings
    (empty / "values.yaml").write_text("replicas: 2\n")
    assert run_audit(AuditOptions(paths=(str(empty),))).findings == ()


def test_an_audit_log_without_one_event_is_an_error(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("")
    assert _nothing((), audit_log=log) == (
        f"--audit-log {log}: no audit event in 0 lines; expected an audit log (audit.k8s.io/v1 "
        "Event objects, one JSON object per line; gzip allowed)"
    )
    log.write_text("not json\n[1]\n")
    assert _nothing((), audit_log=log).startswith(f"--audit-log {log}:1: not JSON")
    log.write_text("not json\n" + EVENT)
    report = run_audit(AuditOptions(audit_log=log))
    assert [str(problem) for problem in report.problems] == [f"{log}:1: not JSON (Expecting value)"]
    assert report.files == 1
    assert report.sections["inputs"] == [
        {"input": str(log), "auditedAs": "audit log", "from": "--audit-log"}
    ]


def test_a_config_flag_must_name_a_config(tmp_path: Path) -> None:
    broken = tmp_path / "enc.yaml"
    broken.write_text("resources: [\n")
    message = _nothing((), encryption_config=broken)
    assert message.startswith(f"--encryption-config {broken}:2: malformed YAML")
    assert message.endswith(
        "expected a kube-apiserver EncryptionConfiguration (YAML, kind: EncryptionConfiguration)"
    )
