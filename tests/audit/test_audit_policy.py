"""Area 5: the audit-policy decoder, the first-match checker and the controls built on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.audit.checks import audit_policy
from sealbox.audit.checks._policy_model import Policy, RequestAttributes, decode_policy
from sealbox.audit.checks._yamlfile import parse
from sealbox.audit.checks.audit_policy import effective_level
from sealbox.audit.model import Finding

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
AREA = CORPUS / "audit-policy"
USER = ("alice", ("system:authenticated",))
HEADER = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"


def _policy(text: str) -> Policy:
    document, problem = parse(HEADER + text, "policy.yaml", "audit policy")
    assert problem is None
    policy, issues = decode_policy(document)
    assert policy is not None, issues
    return policy


def _level(policy: Policy, verb: str, resource: str, **kw: str) -> tuple[str, set[str], int | None]:
    user, groups = kw.pop("user", USER[0]), tuple(kw.pop("groups", ",".join(USER[1])).split(","))
    request = RequestAttributes(
        user=user,
        groups=groups,
        verb=verb,
        group=kw.get("group", ""),
        resource=resource,
        subresource=kw.get("sub", ""),
        namespace=kw.get("ns", "default"),
        name=kw.get("name", ""),
    )
    level, omit, rule = effective_level(policy, request)
    return level, set(omit), rule


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


def test_corpus_matches_the_expected_file_exactly() -> None:
    findings: list[Finding] = []
    for path in sorted(AREA.glob("*.yaml")):
        found, problems = audit_policy.check(path)
        assert problems == [], path
        findings += found
    expected = yaml.safe_load((HERE / "expected" / "audit-policy.yaml").read_text())
    assert _rows(findings) == sorted((e["id"], e["file"], e["line"], e["object"]) for e in expected)


def test_every_control_has_a_positive_and_a_negative_corpus_file() -> None:
    by_file = {p.name: {f.control.id for f in audit_policy.check(p)[0]} for p in AREA.glob("*")}
    for control in audit_policy.CONTROLS:
        assert any(control.id in ids for ids in by_file.values()), control.id
        assert any(control.id not in ids for ids in by_file.values()), control.id
    assert by_file["recommended.yaml"] == set()


def test_leading_catch_all_request_response_is_caught_despite_a_later_metadata_rule() -> None:
    findings, _ = audit_policy.check(AREA / "catch-all-first.yaml")
    leak = next(f for f in findings if f.control.id == "SBX-503")
    assert leak.details["rule"] == 0
    assert "get secrets" in leak.details["requests"]
    assert "create tokenreviews.authentication.k8s.io" in leak.details["requests"]
    assert "create serviceaccounts/token" in leak.details["requests"]
    # a watch stream is not recorded in the log, so watch is not a value leak
    assert "watch secrets" not in leak.details["requests"]
    unreachable = next(f for f in findings if f.control.id == "SBX-507")
    assert unreachable.details["unreachable"] == [1, 2]


def test_unlogged_reads_name_the_identity_and_the_rule() -> None:
    findings, _ = audit_policy.check(AREA / "secrets-none.yaml")
    nodes = next(f for f in findings if f.control.id == "SBX-502" and f.details["rule"] == 0)
    assert nodes.details["identities"] == ["node node-1"]
    assert "rules[0] (level None, line 6)" in nodes.message


def test_request_level_leaks_only_on_writes() -> None:
    (finding,) = audit_policy.check(AREA / "request-level.yaml")[0]
    assert "get secrets" not in finding.details["requests"]
    assert {"create secrets", "update secrets", "patch secrets"} <= set(finding.details["requests"])


def test_first_match_wins_and_default_is_none() -> None:
    policy = _policy(
        "rules:\n"
        "  - level: RequestResponse\n    verbs: [create]\n"
        "  - level: Metadata\n    resources: [{group: '', resources: [secrets]}]\n"
    )
    assert _level(policy, "create", "secrets") == ("RequestResponse", set(), 0)
    assert _level(policy, "get", "secrets") == ("Metadata", set(), 1)
    assert _level(policy, "get", "configmaps") == ("None", set(), None)


def test_resource_wildcards_and_subresources() -> None:
    policy = _policy(
        "rules:\n"
        "  - level: Request\n    resources: [{group: '', resources: ['pods/*']}]\n"
        "  - level: Metadata\n    resources: [{group: '', resources: ['*/token']}]\n"
        "  - level: RequestResponse\n    resources: [{group: '', resources: ['*']}]\n"
        "  - level: None\n"
    )
    assert _level(policy, "get", "pods")[0] == "Request"  # "pods/*" also matches pods itself
    assert _level(policy, "create", "pods", sub="exec")[0] == "Request"
    assert _level(policy, "create", "serviceaccounts", sub="token")[0] == "Metadata"
    assert _level(policy, "get", "nodes", sub="proxy", ns="")[0] == "RequestResponse"
    assert _level(policy, "get", "secrets")[0] == "RequestResponse"
    assert _level(policy, "get", "deployments", group="apps")[2] == 3  # group must match


def test_plain_resource_does_not_match_its_subresources() -> None:
    policy = _policy(
        "rules:\n  - level: Metadata\n    resources: [{group: '', resources: [pods]}]\n"
    )
    assert _level(policy, "create", "pods", sub="exec")[0] == "None"


def test_resource_names_match_named_requests_only() -> None:
    policy = _policy(
        "rules:\n"
        "  - level: None\n"
        "    resources: [{group: '', resources: [secrets], resourceNames: [noisy]}]\n"
        "  - level: Metadata\n"
    )
    assert _level(policy, "get", "secrets", name="noisy")[0] == "None"
    assert _level(policy, "get", "secrets", name="other")[0] == "Metadata"
    assert _level(policy, "list", "secrets")[0] == "Metadata"


def test_group_without_resources_matches_the_whole_group() -> None:
    policy = _policy("rules:\n  - level: Request\n    resources: [{group: apps}]\n")
    assert _level(policy, "get", "deployments", group="apps", sub="scale")[0] == "Request"
    assert _level(policy, "get", "pods")[0] == "None"


def test_namespaces_users_groups() -> None:
    policy = _policy(
        "rules:\n"
        "  - level: None\n    namespaces: [kube-system]\n"
        "  - level: Request\n    users: [bob]\n"
        "  - level: RequestResponse\n    userGroups: [system:masters]\n"
        "  - level: Metadata\n"
    )
    assert _level(policy, "get", "secrets", ns="kube-system")[0] == "None"
    assert _level(policy, "list", "secrets", ns="")[0] == "Metadata"  # all namespaces: ns ""
    assert _level(policy, "get", "secrets", user="bob")[0] == "Request"
    masters = "system:masters,system:authenticated"
    assert _level(policy, "get", "secrets", groups=masters)[0] == "RequestResponse"


def test_non_resource_rules_never_match_resource_requests() -> None:
    policy = _policy("rules:\n  - level: Request\n    nonResourceURLs: ['/api*']\n")
    assert _level(policy, "get", "secrets")[0] == "None"


def test_omit_stages_are_the_union_of_policy_and_rule() -> None:
    policy = _policy(
        "omitStages: [RequestReceived]\nrules:\n"
        "  - level: Metadata\n    verbs: [get]\n    omitStages: [Panic]\n"
    )
    assert _level(policy, "get", "secrets")[1] == {"RequestReceived", "Panic"}
    assert _level(policy, "list", "secrets") == ("None", {"RequestReceived"}, None)


def test_omitting_request_received_alone_is_fine() -> None:
    findings, _ = audit_policy.check(AREA / "recommended.yaml")
    assert findings == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: []\n", "at least one rule"),
        ("rules:\n  - level: Metadata\n    verbs: get\n", "expected a list"),
        ("rules:\n  - level: Metadata\n    verbs: [1]\n", "expected a string"),
        ("rules:\n  - level: Metadata\n    nonResourceURLs: [healthz]\n", "must begin"),
        ("rules:\n  - level: Metadata\n    nonResourceURLs: ['/a*b']\n", "final character"),
        (
            "rules:\n  - level: Metadata\n    nonResourceURLs: ['/x']\n    namespaces: [a]\n",
            "both regular resources",
        ),
        ("rules:\n  - level: Metadata\n    resources: [{group: Apps}]\n", "DNS subdomain"),
        (
            "rules:\n  - level: Metadata\n    resources: [{group: '', resourceNames: [x]}]\n",
            "requires at least one resource",
        ),
        ("rules:\n  - {}\n", "level is required"),
        ("rules:\n  - level: Metadata\n    omitManagedFields: maybe\n", "true or false"),
    ],
)
def test_rejected_policies(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEADER + text)
    findings, problems = audit_policy.check(path)
    assert problems == []
    assert {f.control.id for f in findings} == {"SBX-501"}
    assert any(message in f.message for f in findings), [f.message for f in findings]


def test_unknown_field_is_ignored_not_rejected(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEADER + "rules:\n  - level: Metadata\n    namespace: [a]\n")
    findings, _ = audit_policy.check(path)
    assert [f.control.id for f in findings] == ["SBX-508"]
    assert findings[0].location.line == 5


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty"), (b"rules: [\n", "malformed YAML"), (b"\x00", "binary")],
)
def test_unusable_files_are_input_problems(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(content)
    findings, problems = audit_policy.check(path)
    assert findings == []
    assert expected in problems[0].message


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    names = ", ".join(f"s{i}" for i in range(200))
    grs = ", ".join(["*gr"] * 200)
    rules = ", ".join(["*rule"] * 200)
    text = (
        HEADER + "metadata:\n  annotations:\n"
        f"    a: &names [{names}]\n"
        "    b: &gr {group: '', resources: *names}\n"
        f"    c: &grs [{grs}]\n"
        "    d: &rule {level: Metadata, resources: *grs}\n"
        f"rules: [{rules}]\n"
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    findings, problems = audit_policy.check(path)
    assert problems == []
    assert any("not evaluated" in f.message for f in findings)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_words = st.sampled_from(
    ["", "*", "secrets", "pods/*", "*/exec", "Metadata", "None", "RequestResponse", "get", "/x*"]
)
_rule = st.dictionaries(
    st.sampled_from(
        [
            "level",
            "users",
            "userGroups",
            "verbs",
            "namespaces",
            "nonResourceURLs",
            "omitStages",
            "resources",
            "namespace",
        ]
    ),
    st.one_of(
        _words,
        st.lists(_words, max_size=3),
        st.lists(
            st.fixed_dictionaries(
                {"group": st.sampled_from(["", "apps"])},
                optional={"resources": st.lists(_words, max_size=2)},
            ),
            max_size=2,
        ),
        _json,
    ),
    max_size=4,
)
_policies = st.fixed_dictionaries(
    {"apiVersion": st.just("audit.k8s.io/v1"), "kind": st.just("Policy")},
    optional={"rules": st.lists(_rule, max_size=4), "omitStages": st.lists(_words, max_size=2)},
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(_json, _policies))
def test_fuzz_policy_loader_only_reports(tmp_path: Path, document: Any) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    findings, problems = audit_policy.check(path)
    assert all(isinstance(f, Finding) for f in findings)
    assert all(f.location.line >= 1 for f in findings)
    if document is None:
        assert problems


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_fuzz_policy_text_only_reports(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    findings, problems = audit_policy.check(path)
    assert isinstance(findings, list)
    assert isinstance(problems, list)
