"""Report order: severity, then blast radius (cluster-wide before namespaced, everyone before
people before workloads before the cluster's own controllers), then file; and duplicated bundles
collapsed into one finding that says where else it was raised."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from sealbox.audit.engine import AuditOptions, run_audit
from sealbox.audit.model import Finding, Location, ObjectRef
from sealbox.audit.ordering import blast_radius, collapse, finding_scope, order_key
from tests.audit.report_sample import ENV, IDENTITY, PLAINTEXT, WILDCARD


def _rbac(name: str, subject: dict[str, str], scope: str, path: str = "a.yaml") -> Finding:
    kind = "ClusterRoleBinding" if scope == "*" else "RoleBinding"
    namespace = None if scope == "*" else scope
    return Finding(
        WILDCARD,
        f"{subject['name']} reads every Secret via {name}",
        Location(path, 1),
        ObjectRef(kind, namespace, name),
        {"subject": subject, "scope": scope},
    )


USER = {"kind": "User", "name": "alice"}
GROUP = {"kind": "Group", "name": "dev"}
EVERYONE = {"kind": "Group", "name": "system:authenticated"}
APP_SA = {"kind": "ServiceAccount", "name": "app", "namespace": "shop"}
SYSTEM_SA = {"kind": "ServiceAccount", "name": "job-controller", "namespace": "kube-system"}
SYSTEM_USER = {"kind": "User", "name": "system:kube-controller-manager"}


def test_cluster_wide_before_namespaced_then_people_before_controllers() -> None:
    # written in path order, which is the order the report used to have
    findings = [
        _rbac("a-controller", SYSTEM_SA, "*", "a.yaml"),
        _rbac("b-kcm", SYSTEM_USER, "*", "b.yaml"),
        _rbac("c-app", APP_SA, "*", "c.yaml"),
        _rbac("d-alice-ns", USER, "shop", "d.yaml"),
        _rbac("e-dev", GROUP, "*", "e.yaml"),
        _rbac("f-everyone", EVERYONE, "*", "f.yaml"),
        _rbac("g-alice", USER, "*", "g.yaml"),
    ]
    ordered = [f.obj.name for f in sorted(findings, key=order_key) if f.obj]
    assert ordered == [
        "f-everyone",  # every authenticated user, cluster-wide
        "e-dev",  # people, cluster-wide (then by file)
        "g-alice",
        "c-app",  # a workload's service account
        "a-controller",  # the cluster's own controllers last
        "b-kcm",
        "d-alice-ns",  # namespaced after every cluster-wide one
    ]


def test_severity_still_comes_first() -> None:
    namespaced_critical = _rbac("ns", APP_SA, "shop")
    cluster_high = Finding(IDENTITY, "identity first", Location("enc.yaml", 3))
    assert sorted([cluster_high, namespaced_critical], key=order_key) == [
        namespaced_critical,
        cluster_high,
    ]


def test_scope_is_inferred_from_the_object_or_the_area_and_can_be_set() -> None:
    binding = Finding(WILDCARD, "m", Location("x.yaml"), ObjectRef("ClusterRoleBinding", None, "b"))
    deployment = Finding(ENV, "m", Location("x.yaml"), ObjectRef("Deployment", None, "web"))
    config = Finding(IDENTITY, "m", Location("enc.yaml"))
    values = Finding(PLAINTEXT, "m", Location("values.yaml"))
    assert [finding_scope(f) for f in (binding, deployment, config, values)] == [
        "cluster",
        "namespace",  # namespaced even when the namespace is given at apply time
        "cluster",  # an apiserver config holds for every Secret
        None,
    ]
    assert blast_radius(config)[0] < blast_radius(deployment)[0] < blast_radius(values)[0]
    # a check that knows better says so, and wins over the inference
    set_by_check = Finding(
        WILDCARD,
        "m",
        Location("x.yaml"),
        ObjectRef("RoleBinding", "shop", "b"),
        scope="cluster",
        subject=ObjectRef("User", None, "alice"),
    )
    assert blast_radius(set_by_check) == blast_radius(_rbac("b", USER, "*"))


def test_identical_findings_in_several_files_collapse_into_the_first() -> None:
    first = _rbac("dup", USER, "*", "bundle-a/rbac.yaml")
    copies = [
        _rbac("dup", USER, "*", "bundle-b/rbac.yaml"),
        _rbac("other", USER, "*", "bundle-b/rbac.yaml"),  # another object: kept
        _rbac("dup", USER, "*", "bundle-c/rbac.yaml"),
    ]
    same_file = Finding(first.control, first.message, Location("bundle-a/rbac.yaml", 40), first.obj)
    no_object = [
        Finding(PLAINTEXT, "values key db.password", Location(p, 3)) for p in ("a.yaml", "b.yaml")
    ]
    out = collapse([first, *copies, same_file, *no_object])
    assert [(f.location.path, f.obj.name if f.obj else None) for f in out] == [
        ("bundle-a/rbac.yaml", "dup"),
        ("bundle-b/rbac.yaml", "other"),
        ("bundle-a/rbac.yaml", "dup"),  # a second place in the same file is not a copy
        ("a.yaml", None),  # without an object two files are two things to fix
        ("b.yaml", None),
    ]
    assert out[0].also == (Location("bundle-b/rbac.yaml", 1), Location("bundle-c/rbac.yaml", 1))
    assert out[0].details == first.details
    assert out[2].also == ()


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      automountServiceAccountToken: false
      containers:
        - name: web
          image: web:1
          env:
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: db, key: password}}
"""


def _bundles(tmp_path: Path, *names: str) -> None:
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "web.yaml").write_text(DEPLOYMENT)


def _env_findings(findings: Any) -> list[Finding]:
    return [f for f in findings if f.control.id == "SBX-101"]


def test_the_engine_collapses_duplicated_bundles(tmp_path: Path) -> None:
    _bundles(tmp_path, "overlay-a", "overlay-b", "overlay-c")
    report = run_audit(AuditOptions(paths=(str(tmp_path),)))
    [finding] = _env_findings(report.findings)
    assert Path(finding.location.path).parent.name == "overlay-a"
    assert [Path(w.path).parent.name for w in finding.also] == ["overlay-b", "overlay-c"]
    assert {w.line for w in finding.also} == {finding.location.line}


def test_the_same_name_in_another_namespace_is_another_object(tmp_path: Path) -> None:
    _bundles(tmp_path, "prod")
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "web.yaml").write_text(DEPLOYMENT.replace("shop", "shop-staging"))
    report = run_audit(AuditOptions(paths=(str(tmp_path),)))
    assert [f.also for f in _env_findings(report.findings)] == [(), ()]


def test_places_named_in_the_message_point_into_each_copy_and_do_not_keep_copies_apart() -> None:
    def chain(bundle: str, rule_file: str = "rbac.yaml") -> Finding:
        message = (
            f"User alice can list every Secret: User alice → ClusterRoleBinding r "
            f"({bundle}/rbac.yaml:9) → ClusterRole r → rule 0 ({bundle}/{rule_file}:5)"
        )
        obj = ObjectRef("ClusterRoleBinding", None, "r")
        return Finding(WILDCARD, message, Location(f"/repo/{bundle}/rbac.yaml", 9), obj)

    out = collapse([chain("bundle-a"), chain("bundle-b"), chain("bundle-c", "other-role.json")])
    assert [f.location.path for f in out] == ["/repo/bundle-a/rbac.yaml"]
    assert [w.path for w in out[0].also] == ["/repo/bundle-b/rbac.yaml", "/repo/bundle-c/rbac.yaml"]
    # anything else in the message still tells findings apart
    other = replace(chain("bundle-b"), message=chain("bundle-b").message.replace("alice", "bob"))
    assert len(collapse([chain("bundle-a"), other])) == 2
