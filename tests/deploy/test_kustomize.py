"""Every kustomization under deploy/ renders with ``kubectl kustomize``, into what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.manifests import KUSTOMIZATIONS, OVERLAYS, PLUGIN, STATIC_POD, relative, render


def test_every_backend_has_an_overlay() -> None:
    assert {o.name for o in OVERLAYS} == {"local", "pkcs11", "vault", "awskms"}
    assert STATIC_POD in KUSTOMIZATIONS
    assert all(o in KUSTOMIZATIONS for o in OVERLAYS)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=relative)
def test_kustomization_renders(directory: Path) -> None:
    objects = render(directory)
    assert objects, f"{relative(directory)} renders nothing"
    for obj in objects:
        assert obj.get("apiVersion"), obj
        assert obj.get("kind"), obj
        assert obj.get("metadata", {}).get("name"), obj


def test_static_pod_is_one_pod() -> None:
    """kubelet reads one object per file in its manifest directory, and it must be a Pod."""
    assert [o["kind"] for o in render(STATIC_POD)] == ["Pod"]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda o: o.name)
def test_overlay_is_a_complete_daemonset(overlay: Path) -> None:
    kinds = sorted(o["kind"] for o in render(overlay))
    assert kinds == ["ConfigMap", "DaemonSet", "ServiceAccount"]
    (daemonset,) = [o for o in render(overlay) if o["kind"] == "DaemonSet"]
    (config_map,) = [o for o in render(overlay) if o["kind"] == "ConfigMap"]
    volumes = daemonset["spec"]["template"]["spec"]["volumes"]
    # The generated name (with its content hash) is what the DaemonSet mounts, so a changed
    # plugin.yaml rolls the pods.
    assert {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}} in volumes
    assert config_map["metadata"]["name"].startswith("sealbox-kms-config-")


def test_daemonset_base_is_shared() -> None:
    """Each overlay builds on the one base, so a fix there reaches every backend."""
    for overlay in OVERLAYS:
        text = (overlay / "kustomization.yaml").read_text()
        assert "- ../../daemonset" in text, relative(overlay)
    assert (PLUGIN / "daemonset" / "kustomization.yaml").exists()
