"""Area 6: streaming the audit log, counting requests once, and the controls on Secret reads."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.audit.checks import _auditlog_parse, audit_log
from sealbox.audit.checks._auditlog_parse import Dedupe, Request, parse_line
from sealbox.audit.model import Finding

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
AREA = CORPUS / "audit-log"
MARKER = "s3cr3t-marker-auditlog-value"
MARKER_B64 = "czNjcjN0LW1hcmtlci1hdWRpdGxvZy12YWx1ZQ=="


def _rows(findings: list[Finding]) -> list[tuple[str, str, int, str | None]]:
    return sorted(
        (
            f.control.id,
            Path(f.location.path).resolve().relative_to(CORPUS).as_posix(),
            f.location.line,
            None if f.obj is None else str(f.obj),
        )
        for f in findings
    )


def _event(n: int, user: str = "alice", verb: str = "get", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"id-{n}",
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "objectRef": {"resource": "secrets", "namespace": "web", "name": f"s{n}"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-03-01T10:00:00.000000Z",
    }
    event.update(extra)
    return event


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_corpus_matches_the_expected_file_exactly() -> None:
    findings: list[Finding] = []
    for path in sorted(AREA.glob("*.jsonl")):
        findings += audit_log.check(path)[0]
    expected = yaml.safe_load((HERE / "expected" / "audit-log.yaml").read_text())
    assert _rows(findings) == sorted((e["id"], e["file"], e["line"], e["object"]) for e in expected)


def test_every_control_has_a_positive_and_a_negative_corpus_file() -> None:
    by_file = {p.name: {f.control.id for f in audit_log.check(p)[0]} for p in AREA.glob("*.jsonl")}
    for control in audit_log.CONTROLS:
        assert any(control.id in ids for ids in by_file.values()), control.id
        assert any(control.id not in ids for ids in by_file.values()), control.id
    assert by_file["normal.jsonl"] == set()


def test_logged_secret_values_never_leave_the_log() -> None:
    path = AREA / "secret-values.jsonl"
    assert MARKER in path.read_text()
    assert MARKER_B64 in path.read_text()
    findings, problems, summary = audit_log.check(path)
    assert [f.control.id for f in findings] == ["SBX-604"]
    assert findings[0].details == {"requests": 2, "levels": "Request/RequestResponse"}
    text = json.dumps(summary) + "".join(f"{f.message}{f.details}" for f in findings)
    text += "".join(str(p) for p in problems)
    for needle in (MARKER, MARKER_B64, "s3cr3t"):
        assert needle not in text


def test_parsed_requests_keep_no_object_content() -> None:
    line = json.dumps(
        _event(1, responseObject={"data": {"k": MARKER_B64}}, level="RequestResponse")
    )
    (request,), problem = parse_line(line.encode(), 1)
    assert problem is None
    assert request.body_logged
    assert MARKER_B64 not in repr(request)


def test_summary_counts_each_request_once_per_identity() -> None:
    _, _, summary = audit_log.check(AREA / "cluster-wide-list.jsonl")
    assert (summary["lines"], summary["events"], summary["requests"]) == (11, 11, 5)
    assert summary["secretReads"] == {"get": 0, "list": 3, "watch": 1}
    bob = next(i for i in summary["identities"] if i["user"] == "bob")
    assert bob["list"] == 2
    assert bob["watch"] == 1
    assert bob["clusterWideListWatch"] == 2
    assert bob["namespaces"] == ["team-b"]
    carol = next(i for i in summary["identities"] if i["user"] == "carol")
    assert carol["deniedSecretReads"] == 1
    assert carol["list"] == 0
    assert summary["clusterWide"] == [{"user": "bob", "expected": False, "list": 1, "watch": 1}]
    json.dumps(summary)  # serialisable


def test_namespaced_list_is_not_cluster_wide() -> None:
    findings, _, _ = audit_log.check(AREA / "cluster-wide-list.jsonl")
    cluster_wide = [f for f in findings if f.control.id == "SBX-601"]
    assert [f.details["user"] for f in cluster_wide] == ["bob"]


def test_expected_readers_by_name_and_group() -> None:
    path = AREA / "cluster-wide-list.jsonl"
    findings, _, summary = audit_log.check(path, expected_readers=("bob", "group:system:auth*"))
    assert findings == []
    assert all(i["expected"] for i in summary["identities"])
    findings, _, _ = audit_log.check(path, expected_readers=("b*",))
    assert {f.details["user"] for f in findings} == {"alice"}


def test_builtin_readers_are_not_unusual() -> None:
    _, _, summary = audit_log.check(AREA / "normal.jsonl")
    kinds = {i["user"]: (i["kind"], i["expected"]) for i in summary["identities"]}
    assert kinds["system:kube-controller-manager"] == ("control-plane", True)
    assert kinds["system:node:node-1"] == ("node", True)
    sa = "system:serviceaccount:kube-system:generic-garbage-collector"
    assert kinds[sa] == ("kube-system service account", True)


def test_impersonation_summary() -> None:
    _, _, summary = audit_log.check(AREA / "impersonation.jsonl")
    as_ = "system:serviceaccount:kube-system:deployment-controller"
    assert summary["impersonated"] == [
        {"user": "alice", "as": as_, "requests": 2, "secretReads": 1},
        {"user": "bob", "as": as_, "requests": 1, "secretReads": 0},
    ]


def test_malformed_lines_are_problems_and_the_scan_continues() -> None:
    findings, problems, summary = audit_log.check(AREA / "malformed.jsonl")
    assert [p.location.line for p in problems] == [1, 2, 3, 7]
    assert summary["malformedLines"] == 4
    assert [f.control.id for f in findings] == ["SBX-602"]


def test_problem_count_is_capped(tmp_path: Path) -> None:
    path = _write(tmp_path / "log.jsonl", ["{bad"] * 30 + [_event(1)])
    findings, problems, summary = audit_log.check(path)
    assert len(problems) == audit_log.MAX_LINE_PROBLEMS + 1
    assert problems[-1].message == "10 more malformed lines skipped"
    assert summary["malformedLines"] == 30
    assert [f.location.line for f in findings] == [31]


def test_overlong_line_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_auditlog_parse, "MAX_LINE_BYTES", 400)
    big = _event(1, responseObject={"pad": "x" * 2000})
    path = _write(tmp_path / "log.jsonl", [big, _event(2)])
    findings, problems, _ = audit_log.check(path)
    assert [p.location.line for p in problems] == [1]
    assert [f.location.line for f in findings] == [2]


def test_gzip_log_gives_the_same_findings(tmp_path: Path) -> None:
    source = AREA / "many-secrets.jsonl"
    packed = tmp_path / "many-secrets.jsonl.gz"
    with source.open("rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain = [(f.control.id, f.location.line, f.obj) for f in audit_log.check(source)[0]]
    zipped = [(f.control.id, f.location.line, f.obj) for f in audit_log.check(packed)[0]]
    assert zipped == plain


def test_corrupt_gzip_and_missing_file_are_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not deflate data" * 10)
    findings, problems, summary = audit_log.check(broken)
    assert findings == []
    assert len(problems) == 1
    assert "unreadable" in problems[0].message
    truncated = tmp_path / "truncated.jsonl.gz"
    data = (AREA / "many-secrets.jsonl").read_bytes()
    truncated.write_bytes(gzip.compress(data)[:-200])
    findings, problems, summary = audit_log.check(truncated)
    assert "unreadable" in problems[-1].message
    assert summary["lines"] > 0
    findings, problems, summary = audit_log.check(tmp_path / "absent.jsonl")
    assert findings == []
    assert "cannot read" in problems[0].message
    assert summary["requests"] == 0


def test_event_list_lines_are_unpacked(tmp_path: Path) -> None:
    path = _write(tmp_path / "log.jsonl", [{"kind": "EventList", "items": [_event(1), _event(2)]}])
    _, problems, summary = audit_log.check(path)
    assert problems == []
    assert summary["secretReads"]["get"] == 2


def _request(audit_id: str, stage: str, line: int) -> Request:
    return Request(audit_id, stage, line, "get", "alice")


def test_dedupe_counts_once_at_the_first_stage_line() -> None:
    dedupe = Dedupe()
    assert dedupe.feed(_request("a", "RequestReceived", 1)) == []
    (counted,) = dedupe.feed(_request("a", "ResponseStarted", 2))
    assert (counted.stage, counted.line) == ("ResponseStarted", 1)
    assert dedupe.feed(_request("a", "ResponseComplete", 3)) == []
    assert dedupe.flush() == []


def test_dedupe_window_releases_request_received_only() -> None:
    dedupe = Dedupe(window=2)
    assert dedupe.feed(_request("a", "RequestReceived", 1)) == []
    assert dedupe.feed(_request("b", "RequestReceived", 2)) == []
    (released,) = dedupe.feed(_request("c", "RequestReceived", 3))
    assert released.audit_id == "a"
    assert [r.audit_id for r in dedupe.flush()] == ["b", "c"]


def test_read_burst_respects_the_window(tmp_path: Path) -> None:
    times = [f"2026-03-01T10:{minute:02d}:00Z" for minute in range(0, 60, 6)]
    spread = [_event(i, requestReceivedTimestamp=t) for i, t in enumerate(times)]
    path = _write(tmp_path / "log.jsonl", spread)
    assert "SBX-603" not in {f.control.id for f in audit_log.check(path)[0]}
    quick = [_event(i, requestReceivedTimestamp=f"2026-03-01T10:00:{i:02d}Z") for i in range(10)]
    path = _write(tmp_path / "log.jsonl", quick)
    burst = next(f for f in audit_log.check(path)[0] if f.control.id == "SBX-603")
    assert burst.details["count"] == audit_log.READ_BURST_THRESHOLD


def test_controls_are_complete() -> None:
    for control in audit_log.CONTROLS:
        assert control.id.startswith("SBX-6")
        assert control.area == "audit-log"
        assert control.title
        assert control.rationale
        assert control.remediation


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["Event", "EventList", "Other"]),
        "auditID": st.one_of(st.text(max_size=4), _json),
        "stage": st.sampled_from(["RequestReceived", "ResponseStarted", "ResponseComplete", ""]),
        "verb": st.sampled_from(["get", "list", "watch", "create", ""]),
        "level": st.sampled_from(["Metadata", "Request", "RequestResponse", 3]),
        "user": st.one_of(st.fixed_dictionaries({"username": _scalars, "groups": _json}), _json),
        "impersonatedUser": _json,
        "objectRef": st.one_of(
            st.fixed_dictionaries(
                {"resource": st.sampled_from(["secrets", "pods", 1])},
                optional={"namespace": _scalars, "name": _scalars, "apiGroup": _scalars},
            ),
            _json,
        ),
        "responseStatus": st.one_of(st.fixed_dictionaries({"code": _scalars}), _json),
        "requestReceivedTimestamp": st.one_of(st.text(max_size=30), _scalars),
        "items": st.lists(_json, max_size=3),
    },
)


@settings(max_examples=300)
@given(value=st.one_of(_json, _event_like))
def test_fuzz_line_parser_json(value: Any) -> None:
    requests, problem = parse_line(json.dumps(value).encode(), 1)
    assert problem is None or isinstance(problem, str)
    assert all(isinstance(r, Request) for r in requests)


@settings(max_examples=200)
@given(raw=st.binary(max_size=200))
def test_fuzz_line_parser_bytes(raw: bytes) -> None:
    requests, problem = parse_line(raw, 1)
    assert problem is None or isinstance(problem, str)
    assert isinstance(requests, list)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(_event_like, _json), max_size=15))
def test_fuzz_whole_log_only_reports(tmp_path: Path, lines: list[Any]) -> None:
    path = _write(tmp_path / "log.jsonl", lines)
    findings, _problems, summary = audit_log.check(path)
    assert all(isinstance(f, Finding) for f in findings)
    json.dumps(summary)
    assert summary["lines"] == path.read_text().count("\n")  # a generated string may hold "\n"
