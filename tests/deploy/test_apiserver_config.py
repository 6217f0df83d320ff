"""What kube-apiserver needs: the EncryptionConfiguration passes ``sealbox config validate``, the
flags are ones this kube-apiserver knows, and the kubeadm snippet says the same as the flags file
and mounts the directories the flags and the plugin's socket live in."""

from __future__ import annotations

import posixpath
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.manifests import DEPLOY, ENCRYPTION_CONFIG, OVERLAYS, plugin_config
from tests.integration.kube_apiserver import require_k8s_assets

APISERVER = DEPLOY / "apiserver"
SEALBOX = str(Path(sys.executable).parent / "sealbox")


def _flags() -> dict[str, str]:
    lines = (APISERVER / "kube-apiserver.flags").read_text().splitlines()
    flags = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert flags
    return dict(flag.removeprefix("--").split("=", 1) for flag in flags)


def test_encryption_config_passes_sealbox_config_validate() -> None:
    result = subprocess.run(
        [SEALBOX, "config", "validate", str(ENCRYPTION_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid:"), result.stdout


def test_encryption_config_names_every_overlays_socket() -> None:
    document = yaml.safe_load(ENCRYPTION_CONFIG.read_text())
    (kms,) = [p["kms"] for r in document["resources"] for p in r["providers"] if "kms" in p]
    assert kms["apiVersion"] == "v2"
    for overlay in OVERLAYS:
        config = plugin_config((overlay / "plugin.yaml").read_text(), overlay.name)
        assert kms["endpoint"] == f"unix://{config.socket}", overlay.name


def test_flags_are_known_to_kube_apiserver() -> None:
    result = subprocess.run(
        [str(require_k8s_assets() / "kube-apiserver"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    help_text = result.stdout + result.stderr
    for name in _flags():
        assert f"--{name} " in help_text, f"kube-apiserver has no --{name}"


def test_flags_point_at_the_encryption_config() -> None:
    path = _flags()["encryption-provider-config"]
    assert posixpath.basename(path) == ENCRYPTION_CONFIG.name
    assert ENCRYPTION_CONFIG.read_text().startswith(f"# {path} ")


def test_kubeadm_snippet_matches_the_flags_and_mounts() -> None:
    document = yaml.safe_load((APISERVER / "kubeadm-config.yaml").read_text())
    assert document["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert document["kind"] == "ClusterConfiguration"
    server = document["apiServer"]
    assert {a["name"]: a["value"] for a in server["extraArgs"]} == _flags()
    mounts = {v["mountPath"]: v for v in server["extraVolumes"]}
    assert all(v["hostPath"] == v["mountPath"] for v in mounts.values())
    # The config's directory, not the file: a file replaced by rename (how editors and config
    # tools write) is only seen through a directory mount, and automatic reload needs to see it.
    config_dir = posixpath.dirname(_flags()["encryption-provider-config"])
    assert mounts[config_dir]["readOnly"] is True
    socket_dir = posixpath.dirname(
        plugin_config((OVERLAYS[0] / "plugin.yaml").read_text(), "plugin.yaml").socket
    )
    assert socket_dir in mounts
