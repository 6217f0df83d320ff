"""The RBAC graph: subjects, binding scope, ClusterRole aggregation and the built-in roles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.audit.checks.rbac import RbacSettings, check
from sealbox.audit.loader import load_text
from sealbox.audit.model import Location, Manifest, ObjectRef
from sealbox.audit.rbac import who_can_read
from sealbox.audit.rbac.graph import Identity, RbacGraph, selector_matches, user_identity


def _load(text: str) -> list[Manifest]:
    result = load_text(text, "graph.yaml")
    assert result.problems == []
    return result.manifests


def _cluster_role(name: str, labels: str = "{}", rules: str = "[]", aggregate: str = "") -> str:
    text = f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {name}, labels: {labels}}}
rules: {rules}
"""
    if aggregate:
        text += f"aggregationRule: {{clusterRoleSelectors: [{aggregate}]}}\n"
    return text + "---\n"


def _binding(
    role: str, subject: str, namespace: str | None = "ns", kind: str = "ClusterRole"
) -> str:
    binding = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = f"{{name: b-{role}, namespace: {namespace}}}" if namespace else f"{{name: b-{role}}}"
    return f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: {binding}
metadata: {meta}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: {role}}}
subjects: [{subject}]
---
"""


LIST_SECRETS = '[{apiGroups: [""], resources: [secrets], verbs: [list]}]'
ALICE = "{kind: User, name: alice}"


def _sources(graph: RbacGraph, role: str) -> set[str]:
    rules = graph.cluster_role_rules(role)
    assert rules is not None
    return {bound.source.name for bound in rules}


def test_aggregation_is_transitive() -> None:
    graph = RbacGraph(
        _load(
            _cluster_role("top", aggregate="{matchLabels: {agg: mid}}")
            + _cluster_role("mid", "{agg: mid}", aggregate="{matchLabels: {agg: leaf}}")
            + _cluster_role("leaf", "{agg: leaf}", LIST_SECRETS)
            + _cluster_role("other", "{agg: nope}", LIST_SECRETS)
        )
    )
    assert _sources(graph, "top") == {"leaf"}
    assert _sources(graph, "mid") == {"leaf"}
    assert _sources(graph, "other") == {"other"}


def test_aggregation_cycles_end_and_share_rules() -> None:
    graph = RbacGraph(
        _load(
            _cluster_role("a", "{side: a}", LIST_SECRETS, "{matchLabels: {side: b}}")
            + _cluster_role("b", "{side: b}", LIST_SECRETS, "{matchLabels: {side: a}}")
        )
    )
    assert _sources(graph, "a") == {"a", "b"}
    assert _sources(graph, "b") == {"a", "b"}


def test_an_empty_selector_aggregates_every_other_cluster_role() -> None:
    graph = RbacGraph(
        _load(_cluster_role("all", aggregate="{}") + _cluster_role("x", rules=LIST_SECRETS))
    )
    assert "x" in _sources(graph, "all")


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ({"key": "t", "operator": "In", "values": ["a", "b"]}, {"t": "b"}, True),
        ({"key": "t", "operator": "In", "values": ["a"]}, {}, False),
        ({"key": "t", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "t", "operator": "NotIn", "values": ["a"]}, {"t": "a"}, False),
        ({"key": "t", "operator": "Exists"}, {"t": ""}, True),
        ({"key": "t", "operator": "DoesNotExist"}, {"t": "x"}, False),
        ({"key": "t", "operator": "Gt", "values": ["1"]}, {"t": "2"}, False),
    ],
)
def test_match_expressions(
    expression: dict[str, object], labels: dict[str, str], expected: bool
) -> None:
    assert selector_matches({"matchExpressions": [expression]}, labels) is expected


def test_match_labels_and_expressions_must_all_hold() -> None:
    selector = {
        "matchLabels": {"a": "1", "flag": True},
        "matchExpressions": [{"key": "b", "operator": "Exists"}],
    }
    assert selector_matches(selector, {"a": "1", "flag": "true", "b": ""})
    assert not selector_matches(selector, {"a": "1", "flag": "true"})
    assert not selector_matches(selector, {"a": "2", "flag": "true", "b": ""})


def test_subjects_are_normalised() -> None:
    graph = RbacGraph(
        _load(
            _cluster_role("r", rules=LIST_SECRETS)
            + _binding("r", "{kind: ServiceAccount, name: local}")
            + _binding("r", "{kind: User, name: 'system:serviceaccount:ci:deployer'}", "other")
            + _binding("r", "{kind: ServiceAccount, name: no-namespace}", None)
            + _binding("r", "{kind: Robot, name: r2d2}", "third")
        )
    )
    # A ServiceAccount without a namespace in a ClusterRoleBinding is kept, in an assumed
    # default namespace (nothing else places it), never dropped.
    assert graph.subjects == [
        Identity("ServiceAccount", "deployer", "ci"),
        Identity("ServiceAccount", "local", "ns"),
        Identity("ServiceAccount", "no-namespace", "default"),
    ]
    assumed = [g.subject.name for g in graph.grants if g.namespace_assumed]
    assert assumed == ["no-namespace"]


def test_user_identity_only_maps_well_formed_service_account_names() -> None:
    assert user_identity("system:serviceaccount:a:b") == Identity("ServiceAccount", "b", "a")
    assert user_identity("system:serviceaccount:a") == Identity("User", "system:serviceaccount:a")
    assert user_identity("system:serviceaccount:a:b:c").kind == "User"


def test_service_accounts_are_in_their_groups() -> None:
    groups = Identity("ServiceAccount", "x", "ns").implicit_groups()
    assert [g.name for g in groups] == ["system:serviceaccounts", "system:serviceaccounts:ns"]
    assert Identity("User", "x").implicit_groups() == ()


def test_binding_scope_and_unresolved_roles() -> None:
    text = (
        _cluster_role("r", rules=LIST_SECRETS)
        + _binding("r", ALICE, "team")
        + _binding("r", ALICE, None)
        + _binding("missing", ALICE, "team")
        + _binding("missing-role", ALICE, "team", kind="Role")
    )
    graph = RbacGraph(_load(text))
    assert sorted(g.scope for g in graph.grants) == ["*", "team"]


def test_a_role_binding_without_namespace_is_in_default() -> None:
    text = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b}
roleRef: {kind: Role, name: r}
subjects: [{kind: ServiceAccount, name: app}]
"""
    (grant,) = RbacGraph(_load(text)).grants
    assert grant.scope == "default"
    assert grant.role == ObjectRef("Role", "default", "r")
    assert grant.subject == Identity("ServiceAccount", "app", "default")


def test_built_in_roles_stand_in_and_input_definitions_win() -> None:
    builtin = RbacGraph(_load(_binding("cluster-admin", ALICE, None)))
    (grant,) = builtin.grants
    assert grant.rules[0].rule.verbs == ("*",)
    assert grant.rules[0].rule.location.path == "(built-in)"
    custom = RbacGraph(
        _load(_cluster_role("cluster-admin", rules=LIST_SECRETS) + _binding("cluster-admin", ALICE))
    )
    assert [b.rule.verbs for b in custom.grants[0].rules] == [("list",)]


def test_input_roles_join_the_built_in_aggregated_roles() -> None:
    label = "{rbac.authorization.k8s.io/aggregate-to-edit: 'true'}"
    graph = RbacGraph(_load(_cluster_role("extra", label, LIST_SECRETS)))
    assert "extra" in _sources(graph, "edit")
    assert "extra" in _sources(graph, "admin")  # edit is aggregated into admin
    assert "extra" not in _sources(graph, "view")
    assert "system:aggregate-to-edit" in _sources(graph, "admin")


def test_duplicate_definitions_are_merged() -> None:
    graph = RbacGraph(
        _load(
            _cluster_role("dup", rules=LIST_SECRETS)
            + _cluster_role("dup", rules='[{apiGroups: [""], resources: [pods], verbs: [create]}]')
        )
    )
    rules = graph.cluster_role_rules("dup")
    assert rules is not None
    assert [b.rule.resources for b in rules] == [("secrets",), ("pods",)]


def test_known_service_accounts_include_defaults_and_workload_accounts() -> None:
    text = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder, namespace: ci}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: web}
spec:
  serviceAccountName: frontend
  containers: [{name: c, image: x}]
"""
    graph = RbacGraph(_load(text))
    assert [str(i) for i in graph.service_accounts("*")] == [
        "ServiceAccount ci/builder",
        "ServiceAccount ci/default",
        "ServiceAccount web/default",
        "ServiceAccount web/frontend",
    ]
    assert [i.name for i in graph.service_accounts("ci", frozenset({"builder"}))] == ["builder"]


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(["", "*", "secrets", "get", "x"])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["kind", "name", "namespace", "matchLabels", "key", "operator"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "Pod"]),
    fields=st.dictionaries(
        st.sampled_from(["rules", "subjects", "roleRef", "aggregationRule", "spec", "metadata"]),
        _values,
        max_size=4,
    ),
)
def test_malformed_rbac_objects_never_break_the_analysis(
    kind: str, fields: dict[str, object]
) -> None:
    body: dict[str, object] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "n"}}
    body.update(fields)
    manifest = Manifest(body, Location("fuzz.yaml", 1), kind, "v1", "n", None)
    binding = _load(_binding("cluster-admin", ALICE, None))
    manifests = [manifest, *binding]
    RbacGraph(manifests)
    list(check(manifests, RbacSettings()))
    who_can_read(manifests, "ns", "s")
