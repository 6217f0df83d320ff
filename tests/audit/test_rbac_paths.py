"""who_can_read: every subject with a path to one Secret, direct or indirect, and the chain."""

from __future__ import annotations

import json
import random
import time

from sealbox.audit.loader import load_text
from sealbox.audit.model import Manifest
from sealbox.audit.rbac import ANY_NAME, RbacAnalysis, ReadAccess, who_can_read


def _load(text: str) -> list[Manifest]:
    result = load_text(text, "paths.yaml")
    assert result.problems == []
    return result.manifests


def _role(name: str, rules: str, namespace: str | None = None) -> str:
    kind = "Role" if namespace else "ClusterRole"
    meta = f"{{name: {name}, namespace: {namespace}}}" if namespace else f"{{name: {name}}}"
    return f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata: {meta}
rules: {rules}
---
"""


def _bind(name: str, role: str, subject: str, namespace: str | None = None) -> str:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    meta = f"{{name: {name}, namespace: {namespace}}}" if namespace else f"{{name: {name}}}"
    role_kind = "Role" if role.startswith("role:") else "ClusterRole"
    return f"""\
apiVersion: rbac.authorization.k8s.io/v1
kind: {kind}
metadata: {meta}
roleRef: {{kind: {role_kind}, name: {role.removeprefix("role:")}}}
subjects: [{subject}]
---
"""


def _rule(verbs: str, resources: str, group: str = '""', names: str = "") -> str:
    text = f"{{apiGroups: [{group}], resources: [{resources}], verbs: [{verbs}]"
    return text + (f", resourceNames: [{names}]}}" if names else "}")


ADMISSION = '"admissionregistration.k8s.io"'


def _user(name: str) -> str:
    return f"{{kind: User, name: {name}}}"


def _sa(namespace: str, name: str) -> str:
    return f"{{kind: ServiceAccount, name: {name}, namespace: {namespace}}}"


def _readers(accesses: list[ReadAccess]) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for access in accesses:
        if access.subject_name != "system:masters":
            out.setdefault(access.subject, set()).add((access.how, access.reads))
    return out


def _deployment(namespace: str, name: str, secret: str, account: str = "default") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  template:
    spec:
      serviceAccountName: {account}
      containers: [{{name: c, image: x}}]
      volumes: [{{name: v, secret: {{secretName: {secret}}}}}]
---
"""


def test_resource_names_decide_get_and_named_list() -> None:
    text = (
        _role("other", f"[{_rule('get', 'secrets', names='other')}]", "ns")
        + _role("this", f"[{_rule('get', 'secrets', names='db')}]", "ns")
        + _role("named-list", f"[{_rule('list, watch', 'secrets', names='db')}]", "ns")
        + _bind("b1", "role:other", _user("olga"), "ns")
        + _bind("b2", "role:this", _user("tom"), "ns")
        + _bind("b3", "role:named-list", _user("lia"), "ns")
    )
    readers = _readers(who_can_read(_load(text), "ns", "db"))
    assert readers == {
        "User tom": {("get", "get")},
        "User lia": {("list", "list"), ("watch", "watch")},
    }
    assert "User olga" in _readers(who_can_read(_load(text), "ns", "other"))


def test_list_is_direct_and_covers_every_secret_of_its_scope_only() -> None:
    text = _role("reader", f"[{_rule('list', 'secrets')}]") + _bind(
        "b", "reader", _user("ann"), "team"
    )
    manifests = _load(text)
    (access,) = [a for a in who_can_read(manifests, "team", "anything") if a.subject == "User ann"]
    assert access.direct
    assert (access.family, access.scope) == ("list", "team")
    assert access.note == "list returns every Secret in namespace team"
    assert [str(link) for link in access.chain] == [
        "RoleBinding team/b -> ClusterRole reader (rule 0)"
    ]
    assert "User ann" not in _readers(who_can_read(manifests, "elsewhere", "anything"))


def test_system_masters_is_always_listed() -> None:
    (access,) = who_can_read([], "ns", "x")
    assert (access.subject, access.how, access.direct) == (
        "Group system:masters",
        "system:masters",
        True,
    )


def test_exec_names_the_workloads_that_mount_the_secret() -> None:
    text = (
        _role("exec", f"[{_rule('create', 'pods/exec')}]", "app")
        + _bind("b", "role:exec", _user("eli"), "app")
        + _deployment("app", "web", "db-creds")
        + _deployment("app", "worker", "queue-creds")
    )
    manifests = _load(text)
    (access,) = [a for a in who_can_read(manifests, "app", "db-creds") if a.subject == "User eli"]
    assert not access.direct
    assert access.how == "pods/exec"
    assert access.workloads == ("Deployment app/web",)
    (possible,) = [
        a for a in who_can_read(manifests, "app", "unmounted") if a.subject == "User eli"
    ]
    assert possible.workloads == ()
    assert possible.note.startswith("possible")


def test_exec_restricted_to_named_pods_needs_one_that_mounts_it() -> None:
    pod = """\
apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: app}
spec:
  containers:
    - name: c
      image: x
      envFrom: [{secretRef: {name: env-secret}}]
---
"""
    text = (
        _role("exec", f"[{_rule('get', 'pods/exec', names='debug')}]", "app")
        + _bind("b", "role:exec", _user("eli"), "app")
        + pod
    )
    manifests = _load(text)
    assert "User eli" in _readers(who_can_read(manifests, "app", "env-secret"))
    assert "User eli" not in _readers(who_can_read(manifests, "app", "db-creds"))


def test_nodes_proxy_reads_mounted_secrets_everywhere_but_only_cluster_wide() -> None:
    text = (
        _role("proxy", f"[{_rule('get', 'nodes/proxy')}]")
        + _bind("crb", "proxy", _user("nod"))
        + _bind("rb", "proxy", _user("rob"), "app")
        + _deployment("app", "web", "db-creds")
    )
    readers = _readers(who_can_read(_load(text), "app", "db-creds"))
    assert readers["User nod"] == {("nodes/proxy", "nodes/proxy")}
    assert "User rob" not in readers


def test_workload_creation_reads_every_secret_and_lends_service_accounts() -> None:
    text = (
        _role("deployer", f"[{_rule('patch', 'deployments', 'apps')}]", "build")
        + _bind("b", "role:deployer", _user("dev"), "build")
        + _role("prod-reader", f"[{_rule('get', 'secrets')}]", "prod")
        + _bind("r", "role:prod-reader", _sa("build", "release"), "prod")
    )
    manifests = _load(text)
    assert _readers(who_can_read(manifests, "build", "x"))["User dev"] == {
        ("patch deployments", "patch deployments")
    }
    (access,) = [a for a in who_can_read(manifests, "prod", "x") if a.subject == "User dev"]
    assert (access.how, access.reads, access.direct) == ("patch deployments", "get", False)
    assert access.via == ("run a pod as ServiceAccount build/release",)
    assert [link.binding.name for link in access.chain] == ["b", "r"]


def test_impersonation_is_followed_transitively_and_survives_cycles() -> None:
    imp_users = _rule("impersonate", "users", names="trent")
    imp_sa = _rule("impersonate", "serviceaccounts", names="robot")
    imp_back = _rule("impersonate", "users", names="mallory")
    text = (
        _role("to-trent", f"[{imp_users}]")
        + _bind("m", "to-trent", _user("mallory"))
        + _role("to-robot", f"[{imp_sa}]", "ops")
        + _bind("t", "role:to-robot", _user("trent"), "ops")
        + _role("back", f"[{imp_back}]")
        + _bind("r", "back", _sa("ops", "robot"))
        + _role("lister", f"[{_rule('list', 'secrets')}]", "ops")
        + _bind("l", "role:lister", _sa("ops", "robot"), "ops")
    )
    accesses = [a for a in who_can_read(_load(text), "ops", "db") if a.subject == "User mallory"]
    (access,) = accesses
    assert (access.how, access.reads) == ("impersonate users", "list")
    assert access.via == ("impersonate User trent", "impersonate ServiceAccount ops/robot")
    assert [link.binding.name for link in access.chain] == ["m", "t", "l"]
    as_json = access.as_dict()
    assert as_json["via"] == list(access.via)
    assert as_json["chain"][2]["ruleLocation"] == "paths.yaml:" + str(
        access.chain[2].rule_location.line
    )


def test_impersonating_groups_reaches_system_masters_only_with_a_user() -> None:
    groups = _rule("impersonate", "groups")
    users = _rule("impersonate", "users", names="someone")
    text = (
        _role("groups-only", f"[{groups}]")
        + _role("groups-and-user", f"[{groups}, {users}]")
        + _bind("a", "groups-only", _user("gio"))
        + _bind("b", "groups-and-user", _user("hal"))
    )
    readers = who_can_read(_load(text), "any", "thing")
    (access,) = [a for a in readers if a.subject == "User hal"]
    assert access.via == ("impersonate Group system:masters",)
    assert access.reads == "system:masters"
    assert not [a for a in readers if a.subject == "User gio"]


def test_impersonation_via_role_binding_cannot_reach_users() -> None:
    text = (
        _role("imp", f"[{_rule('impersonate', 'users')}]")
        + _bind("b", "imp", _user("ray"), "ns")
        + _role("lister", f"[{_rule('list', 'secrets')}]")
        + _bind("l", "lister", _user("ann"), "ns")
    )
    assert "User ray" not in _readers(who_can_read(_load(text), "ns", "x"))


def test_token_request_and_token_secret_minting() -> None:
    text = (
        _role("token", f"[{_rule('create', 'serviceaccounts/token', names='ci-bot')}]", "ci")
        + _role(
            "mint", f"[{_rule('create', 'secrets')}, {_rule('get', 'secrets', names='t')}]", "ci"
        )
        + _bind("a", "role:token", _user("cat"), "ci")
        + _bind("b", "role:mint", _user("dan"), "ci")
        + _role("prod", f"[{_rule('list', 'secrets')}]", "prod")
        + _bind("p", "role:prod", _sa("ci", "ci-bot"), "prod")
    )
    readers = _readers(who_can_read(_load(text), "prod", "x"))
    assert readers["User cat"] == {("create serviceaccounts/token", "list")}
    assert readers["User dan"] == {("create secrets (service-account-token)", "list")}


def test_service_accounts_inherit_their_groups_when_acted_as() -> None:
    text = (
        _role("token", f"[{_rule('create', 'serviceaccounts/token')}]", "ci")
        + _bind("a", "role:token", _user("cat"), "ci")
        + _role("ns-reader", f"[{_rule('get', 'secrets')}]")
        + _bind("g", "ns-reader", "{kind: Group, name: 'system:serviceaccounts:ci'}", "shared")
    )
    readers = who_can_read(_load(text), "shared", "x")
    cat = [a for a in readers if a.subject == "User cat"]
    assert len(cat) == 1  # one row, whichever ci account was used
    assert cat[0].via == ("obtain a token of ServiceAccount ci/default",)


def test_escalate_bind_csr_and_webhooks() -> None:
    rbac = '"rbac.authorization.k8s.io"'
    certs = '"certificates.k8s.io"'
    text = (
        _role("esc", f"[{_rule('escalate, update', 'roles', rbac)}]", "ns")
        + _bind("e", "role:esc", _user("eva"), "ns")
        + _role(
            "binder",
            f"[{_rule('bind', 'clusterroles', rbac)}, {_rule('create', 'rolebindings', rbac)}]",
        )
        + _bind("b", "binder", _user("bo"), "ns")
        + _role(
            "csr",
            f"[{_rule('create', 'certificatesigningrequests', certs)}, "
            f"{_rule('update', 'certificatesigningrequests/approval', certs)}, "
            f"{_rule('approve', 'signers', certs, names='kubernetes.io/*')}]",
        )
        + _bind("c", "csr", _user("cy"))
        + _role(
            "hook",
            f"[{_rule('create', 'validatingwebhookconfigurations', ADMISSION)}]",
        )
        + _bind("w", "hook", _user("wes"))
    )
    readers = _readers(who_can_read(_load(text), "ns", "x"))
    assert readers["User eva"] == {("escalate roles", "escalate roles")}
    assert readers["User bo"] == {("bind clusterroles", "bind clusterroles")}
    assert readers["User cy"] == {("approve certificatesigningrequests",) * 2}
    assert readers["User wes"] == {("create validatingwebhookconfigurations",) * 2}
    assert "User eva" not in _readers(who_can_read(_load(text), "other", "x"))


def test_a_certain_reader_gets_no_indirect_rows() -> None:
    text = (
        _role(
            "both", f"[{_rule('list', 'secrets')}, {_rule('impersonate', 'serviceaccounts')}]", "ns"
        )
        + _bind("b", "role:both", _user("ann"), "ns")
        + _role("reader", f"[{_rule('get', 'secrets')}]", "ns")
        + _bind("r", "role:reader", _sa("ns", "x"), "ns")
    )
    rows = [a for a in who_can_read(_load(text), "ns", "s") if a.subject == "User ann"]
    assert [(a.how, a.direct) for a in rows] == [("list", True)]


def test_output_is_sorted_deterministic_and_json_ready() -> None:
    text = (
        _role("reader", f"[{_rule('get, list', 'secrets')}]")
        + _bind("b", "reader", f"{_user('zed')}, {_user('amy')}, {_sa('ns', 'bot')}", "ns")
        + _role("pods", f"[{_rule('create', 'pods')}]")
        + _bind("p", "pods", "{kind: Group, name: devs}", "ns")
    )
    manifests = _load(text)
    first = who_can_read(manifests, "ns", "s")
    shuffled = list(manifests)
    random.Random(7).shuffle(shuffled)
    assert [a.as_dict() for a in who_can_read(shuffled, "ns", "s")] == [a.as_dict() for a in first]
    assert [a.subject for a in first] == [
        "Group devs",
        "Group system:masters",
        "ServiceAccount ns/bot",
        "ServiceAccount ns/bot",
        "User amy",
        "User amy",
        "User zed",
        "User zed",
    ]
    json.dumps([a.as_dict() for a in first])
    assert first[0].as_dict()["subject"] == {"kind": "Group", "name": "devs"}


def _big_corpus(namespaces: int = 100) -> str:
    parts = [
        _role("reader", f"[{_rule('get, list', 'secrets')}]"),
        _role("deployer", f"[{_rule('create, patch', 'deployments', 'apps')}]"),
        _role("imp", f"[{_rule('impersonate', 'serviceaccounts')}]"),
    ]
    for index in range(namespaces):
        ns = f"team-{index}"
        parts.append(_role("local", f"[{_rule('get', 'secrets', names=f's{index}')}]", ns))
        for member in range(6):
            parts.append(_bind(f"r{member}", "role:local", _sa(ns, f"app-{member}"), ns))
            parts.append(_bind(f"d{member}", "deployer", _user(f"dev-{index}-{member}"), ns))
            parts.append(_bind(f"i{member}", "imp", _user(f"ops-{index}-{member}"), ns))
        parts.append(_bind("all", "reader", "{kind: Group, name: 'system:serviceaccounts:x'}", ns))
        parts.append(_deployment(ns, "web", f"s{index}", "app-0"))
    return "".join(parts)


def test_thousands_of_objects_stay_fast() -> None:
    manifests = _load(_big_corpus())
    assert len(manifests) > 1900
    started = time.perf_counter()
    analysis = RbacAnalysis(manifests)
    accesses = analysis.who_can_read("team-7", "s7")
    for index in range(0, 100, 10):
        analysis.who_can_read(f"team-{index}", "other")
    elapsed = time.perf_counter() - started
    assert any(a.subject == "User ops-7-0" and a.via for a in accesses)
    assert elapsed < 10, f"who_can_read took {elapsed:.1f}s"


def test_any_name_lists_readers_of_some_secret_of_the_namespace() -> None:
    text = (
        _role("one", f"[{_rule('get', 'secrets', names='a, b')}]", "ns")
        + _bind("b", "role:one", _user("nia"), "ns")
        + _role("exec", f"[{_rule('create', 'pods/exec')}]", "ns")
        + _bind("e", "role:exec", _user("eli"), "ns")
        + _deployment("ns", "web", "c")
    )
    accesses = {a.subject: a for a in who_can_read(_load(text), "ns", ANY_NAME)}
    assert accesses["User nia"].note == "get only Secret(s) a, b"
    assert accesses["User eli"].workloads == ("Deployment ns/web",)
    assert "User nia" not in _readers(who_can_read(_load(text), "ns", "c"))
