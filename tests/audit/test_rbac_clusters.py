"""Cluster roots and namespace resolution: kustomize bases, overlays, --cluster-root, --namespace.

The corpus (tests/audit/corpus/rbac/) holds the realistic cases end to end; these tests build
small trees to pin each rule of :mod:`sealbox.audit.rbac.clusters` and the CLI options.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealbox.audit.checks.rbac import RbacSettings, check
from sealbox.audit.engine import AuditOptions, run_audit
from sealbox.audit.loader import load_paths
from sealbox.audit.model import Finding
from sealbox.audit.rbac import Identity, RbacAnalysis, split_clusters
from sealbox.cli import app
from sealbox.errors import InputError

CORPUS = Path(__file__).parent / "corpus" / "rbac"

_ADMIN_TO_SHIPPER = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: shipper-admin
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
  - kind: ServiceAccount
    name: shipper
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _scan(
    root: Path, *, cluster_roots: tuple[str, ...] = (), namespace: str | None = None
) -> list[Finding]:
    settings = RbacSettings(
        scan_roots=(str(root),), cluster_roots=cluster_roots, namespace=namespace
    )
    return list(check(load_paths([str(root)]).manifests, settings))


def _subjects(findings: list[Finding]) -> set[str]:
    return {
        str(f.details["subject"].get("namespace", "")) + "/" + f.details["subject"]["name"]
        for f in findings
    }


def test_a_namespace_less_subject_of_a_cluster_role_binding_takes_the_kustomization_namespace(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "base/kustomization.yaml": "namespace: logging\nresources: [rbac.yaml]\n",
            "base/rbac.yaml": _ADMIN_TO_SHIPPER,
        },
    )
    findings = _scan(tmp_path)
    assert {f.control.id for f in findings} == {"SBX-301", "SBX-304"}
    assert _subjects(findings) == {"logging/shipper"}
    assert all("assumed" not in f.message for f in findings)


def test_the_overlay_namespace_wins_over_the_base(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "base/kustomization.yaml": "namespace: base-ns\nresources: [rbac.yaml]\n",
            "base/rbac.yaml": _ADMIN_TO_SHIPPER,
            "prod/kustomization.yaml": "namespace: prod\nresources: [../base]\n",
            "staging/kustomization.yaml": "namespace: staging\nresources: [../base]\n",
        },
    )
    # Two overlays deploy the same base: two clusters, one finding per deployment.
    assert _subjects(_scan(tmp_path)) == {"prod/shipper", "staging/shipper"}


def test_the_nearest_kustomization_above_a_loose_file_places_it(tmp_path: Path) -> None:
    # The kustomization does not list the file (nothing includes it), but it sits below it.
    _write(
        tmp_path,
        {
            "app/kustomization.yaml": "namespace: app\nresources: []\n",
            "app/extra/rbac.yaml": _ADMIN_TO_SHIPPER,
        },
    )
    assert _subjects(_scan(tmp_path)) == {"app/shipper"}


def test_unknown_namespace_is_assumed_and_said_then_namespace_option_places_it(
    tmp_path: Path,
) -> None:
    _write(tmp_path, {"rbac.yaml": _ADMIN_TO_SHIPPER})
    findings = _scan(tmp_path)
    assert {f.control.id for f in findings} == {"SBX-301", "SBX-304"}
    for finding in findings:
        assert finding.message.startswith(
            "ServiceAccount default/shipper (namespace assumed: default) "
        )
        assert finding.details["subject"]["namespaceAssumed"] is True
    placed = _scan(tmp_path, namespace="ops")
    assert _subjects(placed) == {"ops/shipper"}
    assert all("assumed" not in f.message for f in placed)


def test_a_role_binding_subject_takes_the_binding_namespace_first(tmp_path: Path) -> None:
    binding = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: ServiceAccount, name: app}]
"""
    _write(
        tmp_path,
        {"kustomization.yaml": "namespace: other\nresources: [rb.yaml]\n", "rb.yaml": binding},
    )
    assert _subjects(_scan(tmp_path)) == {"team-a/app"}


_OPERATOR = {
    "config/default/kustomization.yaml": "namespace: {name}-system\nresources: [../rbac]\n",
    "config/rbac/kustomization.yaml": "resources: [role.yaml, binding.yaml]\n",
    "config/rbac/role.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: manager-role}}
rules: [{{apiGroups: [""], resources: [{resource}], verbs: [list]}}]
""",
    "config/rbac/binding.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: manager-rolebinding}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: manager-role}}
subjects: [{{kind: ServiceAccount, name: controller-manager, namespace: system}}]
""",
}


def _operators(root: Path) -> Path:
    for name, resource in (("alpha", "secrets"), ("beta", "configmaps")):
        files = {
            f"{name}/{path}": text.format(name=name, resource=resource)
            for path, text in _OPERATOR.items()
        }
        _write(root, files)
    return root


def test_same_named_roles_of_two_projects_are_not_merged(tmp_path: Path) -> None:
    findings = _scan(_operators(tmp_path))
    assert [(f.control.id, Path(f.location.path).parts[-4]) for f in findings] == [
        ("SBX-301", "alpha")
    ]


def test_cluster_root_option_decides_what_is_one_cluster(tmp_path: Path) -> None:
    _operators(tmp_path)
    # Told that both projects are one cluster, the roles merge: beta's binding reads Secrets.
    merged = _scan(tmp_path, cluster_roots=(str(tmp_path),))
    assert sorted(Path(f.location.path).parts[-4] for f in merged) == ["alpha", "beta"]
    apart = _scan(tmp_path, cluster_roots=(str(tmp_path / "alpha"), str(tmp_path / "beta")))
    assert [Path(f.location.path).parts[-4] for f in apart] == ["alpha"]


def test_a_tree_without_kustomizations_is_one_cluster() -> None:
    manifests = load_paths([str(CORPUS / "list-vs-get.yaml"), str(CORPUS / "tokens.yaml")])
    clusters = split_clusters(manifests.manifests)
    assert len(clusters) == 1
    assert clusters[0].manifests == tuple(manifests.manifests)


def test_token_findings_need_an_account_that_certainly_reads_secrets() -> None:
    manifests = load_paths([str(CORPUS / "token-scope")]).manifests
    (cluster,) = split_clusters(manifests, (str(CORPUS / "token-scope"),))
    assert cluster.root.endswith("token-scope")
    analysis = RbacAnalysis(cluster.manifests, cluster.namespaces)
    debugger = Identity("ServiceAccount", "debugger", "team-t")
    # debugger reads a Secret only if a pod mounts one (exec): a reader, not a certain one.
    assert debugger in analysis.hot
    assert debugger not in analysis.certain_hot
    findings = check(manifests, RbacSettings())
    assert [f.control.id for f in findings] == ["SBX-311"]


def test_engine_and_cli_take_cluster_roots_and_namespace(tmp_path: Path) -> None:
    _write(tmp_path, {"rbac.yaml": _ADMIN_TO_SHIPPER})
    report = run_audit(AuditOptions(paths=(str(tmp_path),), namespace="ops"))
    assert {str(f.details["subject"]["namespace"]) for f in report.findings} == {"ops"}
    with pytest.raises(InputError, match="--cluster-root"):
        run_audit(AuditOptions(paths=(str(tmp_path),), cluster_roots=(str(tmp_path / "no"),)))
    with pytest.raises(InputError, match="--namespace 'Bad_NS'"):
        run_audit(AuditOptions(paths=(str(tmp_path),), namespace="Bad_NS"))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "audit",
            "scan",
            str(tmp_path),
            "--namespace",
            "ops",
            "--cluster-root",
            str(tmp_path),
            "-o",
            "json",
            "--fail-on",
            "never",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ServiceAccount ops/shipper can list and watch every Secret" in result.output
    bad = runner.invoke(app, ["audit", "scan", str(tmp_path), "--namespace", "Bad_NS"])
    assert bad.exit_code == 2
    assert "error: --namespace 'Bad_NS': not a namespace name" in bad.output
