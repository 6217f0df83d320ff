"""``sealbox audit --kubeconfig``: the audit corpus on a real kube-apiserver, read as an auditor.

One apiserver, with an audit policy that records every Secret request's response in full
(``RequestResponse``), gets the corpus's workloads, RBAC and manifests (namespaces and service
accounts first; objects it refuses are listed and left out of the comparison). The live audit
then runs as ``alice``, bound to exactly the ClusterRole in ``deploy/rbac/sealbox-auditor.yaml``,
and must:

* find on each corpus object the same controls the file audit finds on it, apart from the
  documented differences (:data:`SECRET_VALUES`, :data:`ONE_CLUSTER`);
* make only ``list`` calls, as many per resource as its ``apiCalls`` section says, and get no
  Secret data back: every answer to a Secret request is a ``PartialObjectMetadataList`` (read in
  the apiserver's own audit log);
* flag a Secret whose ``last-applied-configuration`` repeats its values (SBX-210) and, with
  ``--etcd-*``, the Secrets etcd holds in plaintext (SBX-410), never printing a value.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lightkube import codecs
from lightkube.core.exceptions import LoadResourceError
from lightkube.core.resource import api_info
from typer.testing import CliRunner

from sealbox.audit import Location, Manifest, load_paths
from sealbox.audit.engine import AuditOptions, run_audit
from sealbox.cli import app
from sealbox.kube import KubeTarget, sync_client
from tests.audit.markers import marker_needles
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.integration.processes import wait_until

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
AREAS = ("workloads", "rbac", "manifests")
AUDITOR_ROLE = HERE.parents[1] / "deploy" / "rbac" / "sealbox-auditor.yaml"
MARKER = re.compile(r"s3cr3t-marker-[a-z0-9-]+")
APPLIED_VALUE = "s3cr3t-marker-live-applied"
POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: RequestResponse
    resources: [{group: "", resources: ["secrets"]}]
  - level: Metadata
"""
APPLIED_SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: applied-by-kubectl, namespace: shop}}
stringData:
  password: {APPLIED_VALUE}
"""

# The documented differences between the file audit and the live one, per control:
SECRET_VALUES = {
    # Controls that read a Secret's values, which the live audit never receives (on ConfigMaps,
    # whose values it reads, they fire live too).
    "SBX-201",  # plaintext Secret manifest committed
    "SBX-204",  # placeholder credential
    "SBX-206",  # Kubernetes API credentials committed
}
ONE_CLUSTER = {
    # The file audit treats each kustomization as a cluster of its own; in the live cluster every
    # object is in one, so a broad grant elsewhere makes the debugger account a Secret reader and
    # the token request becomes one (the comment in corpus/rbac/token-scope says it is isolated).
    ("RoleBinding team-t/fay-requests-debugger-tokens", "SBX-314"),
}

runner = CliRunner()


@dataclass
class Cluster:
    server: KubeApiserver
    audit_log: Path
    applied: list[Manifest]  # corpus objects the apiserver accepted
    refused: dict[str, str]  # "Kind ns/name" -> why


def _plain(value: Any) -> Any:
    """A parsed manifest as plain dicts and lists (the loader's mappings carry line numbers)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _order(manifest: Manifest) -> int:
    """Roles before their bindings (service accounts come first of all)."""
    first = ("ClusterRole", "Role")
    return first.index(manifest.kind) if manifest.kind in first else len(first)


def _default_accounts(namespaces: list[str], accounts: list[Manifest]) -> list[Manifest]:
    """The ``default`` ServiceAccount the controller-manager would make where the corpus has
    none (without one, the apiserver refuses Pods)."""
    made = {m.namespace for m in accounts if m.name == "default"}
    return [
        Manifest(_default_sa(ns), Location("<fixture>"), "ServiceAccount", "v1", "default", ns)
        for ns in namespaces
        if ns not in made
    ]


def _apply_corpus(server: KubeApiserver) -> tuple[list[Manifest], dict[str, str]]:
    manifests = load_paths([str(CORPUS / area) for area in AREAS]).manifests
    applied: list[Manifest] = []
    refused: dict[str, str] = {}
    namespaces = sorted({m.namespace for m in manifests if m.namespace} | {"shop"})
    with sync_client(KubeTarget(kubeconfig=server.kubeconfig)) as client:
        for namespace in namespaces:  # 409 for those the apiserver made (kube-system, ...)
            client._client._client.post("/api/v1/namespaces", json=_namespace(namespace))
        accounts = [m for m in manifests if m.kind == "ServiceAccount"]
        others = sorted((m for m in manifests if m.kind != "ServiceAccount"), key=_order)
        for manifest in [*accounts, *_default_accounts(namespaces, accounts), *others]:
            try:
                resource = codecs.resource_registry.load(manifest.api_version, manifest.kind)
            except LoadResourceError:
                resource = None
            if resource is None:
                refused[str(manifest.ref)] = "kind not served (no CRD)"
                continue
            # Posted as written (the apiserver judges it, not lightkube's models).
            path = _collection(resource, manifest.namespace)
            answer = client._client._client.post(path, json=_plain(manifest.body))
            if answer.status_code == 201:
                applied.append(manifest)
            elif answer.status_code == 404:  # a kind lightkube knows (a CRD's), not served here
                refused[str(manifest.ref)] = "kind not served (no CRD)"
            else:
                refused[str(manifest.ref)] = f"{answer.status_code}: {answer.json()['message']}"
    return applied, refused


_AUDITOR_BINDING = Manifest(
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "sealbox-auditor"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "sealbox-auditor",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
    },
    Location("<fixture>"),
    "ClusterRoleBinding",
    "rbac.authorization.k8s.io/v1",
    "sealbox-auditor",
    None,
)


def _create(server: KubeApiserver, manifests: list[Manifest]) -> None:
    """Create objects as the admin (the auditor's role exactly as deploy/ has it)."""
    with sync_client(KubeTarget(kubeconfig=server.kubeconfig)) as client:
        for manifest in manifests:
            resource = codecs.resource_registry.load(manifest.api_version, manifest.kind)
            path = _collection(resource, manifest.namespace)
            answer = client._client._client.post(path, json=_plain(manifest.body))
            assert answer.status_code == 201, answer.text


def _collection(resource: type[Any], namespace: str | None) -> str:
    info = api_info(resource)
    group, version = info.resource.group, info.resource.version
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{where}/{info.plural}"


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _default_sa(namespace: str) -> dict[str, Any]:
    meta = {"name": "default", "namespace": namespace}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


@pytest.fixture(scope="module")
def cluster(etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("live-audit")
    policy, log = directory / "audit-policy.yaml", directory / "audit.log"
    policy.write_text(POLICY)
    flags = [f"--audit-policy-file={policy}", f"--audit-log-path={log}"]
    with running_apiserver(directory / "apiserver", etcd_server, flags=flags) as server:
        applied, refused = _apply_corpus(server)
        server.kubectl("apply", "-f", "-", stdin=APPLIED_SECRET)  # client-side: annotates
        _create(server, [*load_paths([str(AUDITOR_ROLE)]).manifests, _AUDITOR_BINDING])
        yield Cluster(server, log, applied, refused)


def _live(cluster: Cluster, *extra: str) -> tuple[dict[str, Any], str]:
    """The live audit as alice, in the default-command form: its JSON report and the output."""
    kubeconfig = str(cluster.server.kubeconfig_for("alice"))
    argv = ["audit", "--kubeconfig", kubeconfig, "--context", "sealbox-test", "-o", "json"]
    result = runner.invoke(app, [*argv, "--fail-on", "never", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.output


def _by_object(findings: list[dict[str, Any]], objects: set[str]) -> set[tuple[str, str]]:
    return {(f["object"], f["id"]) for f in findings if f.get("object") in objects}


def _json_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for finding in report["findings"]:
        obj = finding.get("object")
        if isinstance(obj, Mapping):
            namespace = obj.get("namespace")
            where = f"{namespace}/{obj['name']}" if namespace else obj["name"]
            obj = f"{obj['kind']} {where}"
        rows.append({"id": finding["id"], "object": obj, "file": finding["file"]})
    return rows


def test_live_findings_match_file_findings_on_the_same_objects(cluster: Cluster) -> None:
    report, output = _live(cluster)
    names = Counter(str(m.ref) for m in load_paths([str(CORPUS / a) for a in AREAS]).manifests)
    # An object defined twice in the corpus (to test both ways) exists once in the cluster.
    objects = {str(m.ref) for m in cluster.applied if names[str(m.ref)] == 1}
    assert len(objects) > 100, cluster.refused

    files = run_audit(AuditOptions(paths=tuple(str(CORPUS / a) for a in AREAS)))
    file_rows = [
        {"id": f.control.id, "object": None if f.obj is None else str(f.obj)}
        for f in files.findings
    ]
    expected = {
        (obj, control)
        for obj, control in _by_object(file_rows, objects)
        if not (obj.startswith("Secret ") and control in SECRET_VALUES)
    }
    live = _json_findings(report)
    found = _by_object(live, objects) - ONE_CLUSTER
    assert sorted(found - expected) == [], cluster.refused
    assert sorted(expected - found) == [], cluster.refused
    assert _by_object(live, objects) >= ONE_CLUSTER

    auditor = {f["id"] for f in live if f["object"] == "ClusterRoleBinding sealbox-auditor"}
    assert auditor == {"SBX-301"}  # list secrets reads values for a client that asks for them
    applied = {f["id"] for f in live if f["object"] == "Secret shop/applied-by-kubectl"}
    assert applied == {"SBX-210"}
    place = {f["file"] for f in live if f["object"] == "Secret shop/applied-by-kubectl"}
    assert place == {"cluster:sealbox-test/shop/Secret/applied-by-kubectl"}
    assert not _leaks(output)


def test_the_auditor_only_lists_and_never_receives_secret_data(cluster: Cluster) -> None:
    before = len(cluster.audit_log.read_text().splitlines())  # other tests' runs are before
    report, _ = _live(cluster)
    calls = report["sections"]["apiCalls"]
    assert {row["verb"] for row in calls} == {"list"}
    secret_calls = [row for row in calls if row["resource"] == "secrets"]
    assert len(secret_calls) == 2  # every Secret, and the legacy token ones by type
    assert all(row["read"].startswith("metadata only") for row in secret_calls)
    assert report["sections"]["cluster"]["secrets"].startswith("RBAC cannot grant metadata-only")

    def events() -> list[dict[str, Any]]:
        lines = cluster.audit_log.read_text().splitlines()[before:]
        return [e for e in map(json.loads, lines) if e["user"]["username"] == "alice"]

    wait_until(
        lambda: any(_resource(e) == "secrets" for e in events()), timeout=30, what="audit events"
    )
    mine = events()
    assert {e["verb"] for e in mine} == {"list"}
    assert all(e["responseStatus"]["code"] == 200 for e in mine)
    made = Counter(_resource(e) for e in mine)
    stated: Counter[str] = Counter()
    for row in calls:
        stated[row["resource"]] += row["requests"]
    assert made == stated

    secret_events = [e for e in mine if _resource(e) == "secrets"]
    assert secret_events
    for event in secret_events:
        assert event["level"] == "RequestResponse"
        body = event["responseObject"]
        assert body["kind"] == "PartialObjectMetadataList"
        assert body["items"]
        assert all(set(item) <= {"metadata", "apiVersion", "kind"} for item in body["items"])


def test_etcd_flags_report_the_secrets_stored_in_plaintext(
    cluster: Cluster, etcd_server: EtcdServer
) -> None:
    prefix = cluster.server.etcd_prefix
    report, output = _live(cluster, "--etcd-endpoints", etcd_server.url, "--etcd-prefix", prefix)
    stored = [f for f in report["findings"] if f["id"] == "SBX-410"]
    assert len(stored) == 1
    secrets = sum(1 for m in cluster.applied if m.kind == "Secret") + 1  # + applied-by-kubectl
    assert stored[0]["details"]["count"] == secrets
    etcd = report["sections"]["etcd"]
    assert etcd["plaintext"] == secrets
    assert etcd["byProvider"] == {"identity": secrets}
    assert not _leaks(output)


def test_the_table_report_names_the_calls_and_no_value(cluster: Cluster) -> None:
    kubeconfig = str(cluster.server.kubeconfig_for("alice"))
    result = runner.invoke(app, ["audit", "scan", "--kubeconfig", kubeconfig, "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    assert "API calls" in result.output
    assert "PartialObjectMetadataList" in result.output
    assert not _leaks(result.output)


def test_a_user_who_may_list_nothing_is_an_error_not_a_pass(cluster: Cluster) -> None:
    kubeconfig = str(cluster.server.kubeconfig_for("bob"))
    result = runner.invoke(app, ["audit", "--kubeconfig", kubeconfig])
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1
    assert "forbidden to list anything" in result.stderr
    assert "sealbox-auditor" in result.stderr


def test_a_list_the_user_may_not_make_is_an_input_problem(cluster: Cluster, tmp_path: Path) -> None:
    """An account that may read RBAC and nothing else: the RBAC is audited, the rest is named."""
    server = cluster.server
    server.kubectl("create", "serviceaccount", "rbac-reader", "-n", "default")
    server.kubectl(
        "create", "clusterrolebinding", "rbac-reader", "--clusterrole=sealbox-rbac-reader",
        "--serviceaccount=default:rbac-reader",
    )  # fmt: skip
    server.kubectl(
        "create", "clusterrole", "sealbox-rbac-reader", "--verb=list",
        "--resource=roles,clusterroles,rolebindings,clusterrolebindings",
    )  # fmt: skip
    token = server.kubectl("create", "token", "rbac-reader", "-n", "default").stdout.strip()
    document = server.kubeconfig_document("admin")
    document["users"] = [{"name": "admin", "user": {"token": token}}]
    kubeconfig = tmp_path / "kubeconfig.json"
    kubeconfig.write_text(json.dumps(document))
    result = runner.invoke(app, ["audit", "--kubeconfig", str(kubeconfig), "-o", "json"])
    assert result.exit_code == 1, result.output  # RBAC findings: the audit did run
    report = json.loads(result.stdout)
    problems = {p["message"].split(":")[0] for p in report["inputProblems"]}
    assert problems == {
        f"forbidden to list {resource}"
        for resource in (
            "serviceaccounts", "configmaps", "pods", "podtemplates", "replicationcontrollers",
            "deployments.apps", "statefulsets.apps", "daemonsets.apps", "replicasets.apps",
            "jobs.batch", "cronjobs.batch", "secrets",
        )
    }  # fmt: skip
    assert {f["id"][:5] for f in report["findings"]} == {"SBX-3"}
    assert token not in result.output


def _resource(event: Mapping[str, Any]) -> str:
    ref = event.get("objectRef") or {}
    group = ref.get("apiGroup")
    return f"{ref.get('resource')}.{group}" if group else str(ref.get("resource"))


def _leaks(output: str) -> set[str]:
    needles = marker_needles(CORPUS, MARKER) | {APPLIED_VALUE}
    return {needle for needle in needles if needle in output}
