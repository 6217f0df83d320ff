"""The deployment files under ``deploy/``, read and rendered the way a cluster admin would.

Kustomizations are rendered with the real ``kubectl kustomize`` (cached: each renders once per
run); plugin.yaml files are validated with the plugin's own parser, so a manifest and the config
it mounts are compared as the plugin would read them.
"""

from __future__ import annotations

import functools
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from sealbox.kms.plugin.config import PluginConfig, parse_plugin_config
from tests.integration.kube_apiserver import require_k8s_assets

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PLUGIN = DEPLOY / "kms-plugin"
STATIC_POD = PLUGIN / "static-pod"
OVERLAYS = sorted(p for p in (PLUGIN / "overlays").iterdir() if p.is_dir())
KUSTOMIZATIONS = sorted(p.parent for p in DEPLOY.rglob("kustomization.yaml"))
ENCRYPTION_CONFIG = DEPLOY / "apiserver" / "encryption-config.yaml"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
IMAGE = "localhost/sealbox"
PLUGIN_CONTAINER = "sealbox-kms"
CLUSTER_SCOPED = frozenset({"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"})
"""Kinds a kustomization renders without a namespace."""


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@functools.cache
def render(directory: Path) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize directory`` prints, in order."""
    kubectl = require_k8s_assets() / "kubectl"
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {relative(directory)}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def one(directory: Path, kind: str, name: str | None = None) -> dict[str, Any]:
    """The single object of ``kind`` (and ``name``) that ``directory`` renders."""
    (found,) = [
        o
        for o in render(directory)
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    return found


def pod_spec(directory: Path) -> dict[str, Any]:
    """The pod spec of the Deployment ``directory`` renders."""
    pod: dict[str, Any] = one(directory, "Deployment")["spec"]["template"]["spec"]
    return pod


def container(directory: Path, name: str) -> dict[str, Any]:
    """The container ``name`` of that Deployment's pod."""
    (found,) = [c for c in pod_spec(directory)["containers"] if c["name"] == name]
    assert isinstance(found, dict)
    return found


def plugin_config(text: str, source: str) -> PluginConfig:
    """A plugin.yaml as the plugin reads it (raises ConfigError where it would refuse it)."""
    return parse_plugin_config(text, source, base_dir=Path("/etc/sealbox"))


@dataclass(frozen=True)
class Workload:
    """One way the plugin runs: its pod spec and the plugin.yaml files it may mount."""

    name: str
    pod: dict[str, Any]
    configs: tuple[tuple[str, str], ...]  # (source, plugin.yaml text)

    @property
    def container(self) -> dict[str, Any]:
        return next(c for c in self.pod["containers"] if c["name"] == PLUGIN_CONTAINER)

    def mount(self, path: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The (volumeMount, volume) of the plugin container that holds ``path``, if any."""
        target = PurePosixPath(path)
        best: dict[str, Any] | None = None
        for mount in self.container.get("volumeMounts", []):
            root = PurePosixPath(mount["mountPath"])
            if (target == root or root in target.parents) and (
                best is None or len(mount["mountPath"]) > len(best["mountPath"])
            ):
                best = mount
        if best is None:
            return None
        volume = next(v for v in self.pod["volumes"] if v["name"] == best["name"])
        return best, volume


def _static_pod() -> Workload:
    (pod,) = render(STATIC_POD)
    assert pod["kind"] == "Pod"
    # The static pod reads /etc/sealbox/plugin.yaml from the node: any overlay's plugin.yaml.
    configs = tuple(
        (relative(o / "plugin.yaml"), (o / "plugin.yaml").read_text()) for o in OVERLAYS
    )
    return Workload("static-pod", pod["spec"], configs)


def _daemonset(overlay: Path) -> Workload:
    objects = render(overlay)
    (daemonset,) = [o for o in objects if o["kind"] == "DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    (config_map,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == volume["configMap"]["name"]
    ]
    configs = tuple(
        (f"{relative(overlay)} ConfigMap key {name}", text)
        for name, text in config_map["data"].items()
    )
    return Workload(f"daemonset/{overlay.name}", pod, configs)


WORKLOADS = ["static-pod", *(f"daemonset/{o.name}" for o in OVERLAYS)]


def workload(name: str) -> Workload:
    """One of :data:`WORKLOADS`, rendered."""
    if name == "static-pod":
        return _static_pod()
    return _daemonset(PLUGIN / "overlays" / name.removeprefix("daemonset/"))
