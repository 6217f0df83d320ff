"""deploy/sealing as a whole: it renders into what the controller needs, a real kube-apiserver
accepts all of it (``apply --dry-run=server -k``), and its parts agree with each other, with the
image, and with what kubeseal-style clients look for.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.manifests import DEPLOY, IMAGE, REPO, VERSION, container, one, pod_spec, render
from tests.integration.kube_apiserver import KubeApiserver

SEALING = DEPLOY / "sealing"
HOME = "kube-system"
# kubeseal's defaults (--controller-name, --controller-namespace), which `sealbox seal` shares.
SERVICE = "sealed-secrets-controller"
CONTAINER = "sealbox-sealing"


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    return one(SEALING, kind, name)


def _pod() -> dict[str, Any]:
    return pod_spec(SEALING)


def _container() -> dict[str, Any]:
    return container(SEALING, CONTAINER)


def test_renders_the_whole_controller() -> None:
    kinds = sorted(o["kind"] for o in render(SEALING))
    assert kinds == sorted(
        ["CustomResourceDefinition", "ServiceAccount", "Deployment", "PodDisruptionBudget"]
        + ["ClusterRole", "ClusterRoleBinding", "Service", "Service"]
        + ["Role", "RoleBinding"] * 3
    )
    for obj in render(SEALING):
        if obj["kind"] not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == HOME, obj["metadata"]["name"]


@pytest.mark.integration
def test_server_accepts_the_kustomization(sealed_secret_crd: KubeApiserver) -> None:
    """Into kube-system itself (a dry run writes nothing), with the CRD already there as it is
    on a cluster that ran upstream's controller: applying ours over it is accepted."""
    result = sealed_secret_crd.kubectl("apply", "--dry-run=server", "-k", str(SEALING))
    lines = result.stdout.splitlines()
    assert len(lines) == len(render(SEALING)), result.stdout
    assert all(line.endswith("(server dry run)") for line in lines), result.stdout


def test_runs_the_sealing_controller_of_this_image() -> None:
    deployment = _one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    container = _container()
    assert container["image"] == f"{IMAGE}:{VERSION}"
    assert container["args"] == ["controller", "sealing"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert _pod()["serviceAccountName"] == _one("ServiceAccount")["metadata"]["name"]


def test_ports_and_probes() -> None:
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "metrics": 8081}  # upstream's --listen-addr and metrics
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert liveness["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert readiness["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_service_is_where_kubeseal_looks() -> None:
    service = _one("Service", SERVICE)
    assert service["metadata"]["namespace"] == HOME
    first = service["spec"]["ports"][0]  # kubeseal proxies to http:<name>:<first port's name>
    assert first["name"] == "http"
    assert first["targetPort"] == "http"
    labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    for each in (service, _one("Service", "sealbox-sealing-metrics")):
        assert each["spec"]["selector"].items() <= labels.items()
    (metrics,) = _one("Service", "sealbox-sealing-metrics")["spec"]["ports"]
    assert metrics["targetPort"] == "metrics"
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


def test_argocd_health_check_is_documented() -> None:
    script = (SEALING / "argocd-health.lua").read_text()
    key = "resource.customizations.health.bitnami.com_SealedSecret"
    assert key in script
    assert "argocd-health.lua" in (DEPLOY / "README.md").read_text()
    for word in ('"Synced"', '"Healthy"', '"Degraded"', '"Progressing"', "observedGeneration"):
        assert word in script
