"""The RBAC rule matcher: literal or ``*`` only, subresources, resourceNames."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sealbox.audit.loader import load_text
from sealbox.audit.rbac.rules import (
    Rule,
    allows,
    api_group_matches,
    parse_rules,
    resource_matches,
    resource_name_matches,
    verb_matches,
)

# Names as RBAC sees them: lowercase words, dots, slashes, plus odd characters.
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC.-_*/:", min_size=1, max_size=20)


def _rule(**fields: tuple[str, ...]) -> Rule:
    return Rule(
        verbs=fields.get("verbs", ()),
        api_groups=fields.get("api_groups", ()),
        resources=fields.get("resources", ()),
        resource_names=fields.get("resource_names", ()),
    )


@given(names, names, names, st.text(max_size=10), st.text(max_size=20))
def test_a_full_wildcard_rule_allows_every_request(
    verb: str, group: str, resource: str, subresource: str, name: str
) -> None:
    rule = _rule(verbs=("*",), api_groups=("*",), resources=("*",))
    assert allows(rule, verb, group, resource, subresource=subresource, name=name)


@given(names, names)
def test_verbs_and_groups_match_only_literally_or_by_star(listed: str, requested: str) -> None:
    rule = _rule(verbs=(listed,), api_groups=(listed,))
    expected = listed == "*" or listed == requested
    assert verb_matches(rule, requested) is expected
    assert api_group_matches(rule, requested) is expected


@given(names, names)
def test_resources_match_only_literally_or_by_star(listed: str, requested: str) -> None:
    rule = _rule(resources=(listed,))
    assert resource_matches(rule, requested) is (listed == "*" or listed == requested)


def test_no_prefix_glob_or_case_folding() -> None:
    rule = _rule(verbs=("get*", "LIST"), api_groups=("",), resources=("secret*", "Secrets"))
    assert not verb_matches(rule, "get")
    assert not verb_matches(rule, "list")
    assert not resource_matches(rule, "secrets")
    assert not api_group_matches(rule, "apps")


def test_subresources_match_by_full_name_or_star_slash() -> None:
    exec_rule = _rule(resources=("pods/exec",))
    assert resource_matches(exec_rule, "pods", "exec")
    assert not resource_matches(exec_rule, "pods")
    assert not resource_matches(exec_rule, "pods", "attach")
    assert not resource_matches(_rule(resources=("pods",)), "pods", "exec")
    scale = _rule(resources=("*/scale",))
    assert resource_matches(scale, "deployments", "scale")
    assert not resource_matches(scale, "deployments")
    assert not resource_matches(scale, "deployments", "status")
    assert not resource_matches(_rule(resources=("secrets/*",)), "secrets")


@given(st.lists(names, max_size=4), names)
def test_resource_names_restrict_named_requests(listed: list[str], requested: str) -> None:
    rule = _rule(resource_names=tuple(listed))
    assert resource_name_matches(rule, requested) is (not listed or requested in listed)


def test_a_request_without_a_name_never_matches_a_rule_with_names() -> None:
    named = _rule(
        verbs=("create", "list"), api_groups=("",), resources=("secrets",), resource_names=("db",)
    )
    assert not allows(named, "create", "", "secrets")
    assert not allows(named, "list", "", "secrets")
    assert allows(named, "list", "", "secrets", name="db")
    assert not allows(named, "list", "", "secrets", name="other")


def test_empty_fields_match_nothing() -> None:
    assert not allows(_rule(verbs=("get",), resources=("secrets",)), "get", "", "secrets")
    assert not allows(_rule(api_groups=("",), resources=("secrets",)), "get", "", "secrets")


def test_parse_rules_keeps_index_and_line_and_skips_garbage() -> None:
    text = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: ns}
rules:
  - "not a mapping"
  - apiGroups: [""]
    resources: secrets
    verbs: ["get", 7]
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["list"]
    resourceNames: ["a"]
"""
    (manifest,) = load_text(text, "r.yaml").manifests
    first, second = parse_rules(manifest)
    assert (first.index, first.location.line) == (1, 6)
    assert first.resources == ()  # not a list: matches nothing, as for the API server
    assert first.verbs == ("get",)
    assert (second.index, second.location.line, second.names) == (2, 9, frozenset({"a"}))
