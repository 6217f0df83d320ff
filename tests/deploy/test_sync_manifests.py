"""deploy/sync as a whole: it renders into what the sync controller needs, a real kube-apiserver
accepts all of it (``apply --dry-run=server -k``), and its parts agree with each other and with
the image. Nothing here runs the controller: the Deployment only names its command.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.manifests import (
    CLUSTER_SCOPED,
    DEPLOY,
    IMAGE,
    REPO,
    VERSION,
    container,
    one,
    pod_spec,
    render,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.sync_crds import SYNC_CRD_NAMES

SYNC = DEPLOY / "sync"
HOME = "kube-system"
CONTAINER = "sealbox-sync"


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    return one(SYNC, kind, name)


def _pod() -> dict[str, Any]:
    return pod_spec(SYNC)


def _container() -> dict[str, Any]:
    return container(SYNC, CONTAINER)


def test_renders_the_whole_controller() -> None:
    kinds = sorted(o["kind"] for o in render(SYNC))
    assert kinds == sorted(
        ["CustomResourceDefinition"] * 3
        + ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
        + ["Deployment", "PodDisruptionBudget", "Service"]
    )
    crds = sorted(o["metadata"]["name"] for o in render(SYNC) if o["kind"] in CLUSTER_SCOPED)
    assert set(SYNC_CRD_NAMES) <= set(crds)
    for obj in render(SYNC):
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == HOME, obj["metadata"]["name"]


@pytest.mark.integration
def test_server_accepts_the_kustomization(sync_crds: KubeApiserver) -> None:
    """Into kube-system itself (a dry run writes nothing), over the CRDs already installed."""
    result = sync_crds.kubectl("apply", "--dry-run=server", "-k", str(SYNC))
    lines = result.stdout.splitlines()
    assert len(lines) == len(render(SYNC)), result.stdout
    assert all(line.endswith("(server dry run)") for line in lines), result.stdout


def test_runs_the_sync_controller_of_this_image() -> None:
    assert _one("Deployment")["spec"]["replicas"] == 2
    container = _container()
    assert container["image"] == f"{IMAGE}:{VERSION}"
    assert container["args"] == ["controller", "sync"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    assert _pod()["serviceAccountName"] == _one("ServiceAccount")["metadata"]["name"]


def test_ports_probes_and_selectors() -> None:
    container = _container()
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 8081}
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert liveness["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert readiness["httpGet"] == {"path": "/readyz", "port": "metrics"}
    labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = _one("Service", "sealbox-sync-metrics")
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "metrics"
    assert _one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_locked_down() -> None:
    pod, container = _pod(), _container()
    user = re.search(r"^USER (\d+):(\d+)$", (REPO / "Containerfile").read_text(), re.MULTILINE)
    assert user is not None
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (int(user[1]), int(user[2]))
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["requests"].keys() == {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]


def test_readme_describes_it() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert "## The sync controller" in readme
    for path in ("sync/", "examples/"):
        assert path in readme
