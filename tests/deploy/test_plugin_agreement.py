"""The pods that run the plugin agree with the plugin.yaml they mount, and with each other.

Parsed and compared, so that changing a port, a socket path or a key directory on one side and
not the other fails here instead of on a control-plane node: probes must hit the plugin's
``metricsAddress`` on the paths its health server answers, the socket's directory must be the
host directory kube-apiserver mounts, every file a backend reads must be inside a volume, and
the security settings must hold for the static pod and every DaemonSet overlay alike.
"""

from __future__ import annotations

import posixpath
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sealbox.kms.backends.local import create_keyring
from sealbox.kms.plugin.config import PluginConfig
from tests.deploy.manifests import (
    ENCRYPTION_CONFIG,
    IMAGE,
    OVERLAYS,
    VERSION,
    WORKLOADS,
    Workload,
    plugin_config,
    workload,
)
from tests.integration.plugin_process import run_plugin
from tests.integration.processes import free_port

PROBE_PATHS = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}


def _configs(load: Workload) -> Iterator[tuple[str, PluginConfig]]:
    assert load.configs, f"{load.name} mounts no plugin.yaml"
    for source, text in load.configs:
        yield source, plugin_config(text, source)


def _config_path(load: Workload) -> str:
    (flag,) = [a for a in load.container["args"] if a.startswith("--config=")]
    return str(flag).removeprefix("--config=")


@pytest.mark.parametrize("name", WORKLOADS)
def test_runs_the_mounted_plugin_yaml(name: str) -> None:
    load = workload(name)
    assert load.container["args"][:2] == ["kms", "serve"]
    path = _config_path(load)
    found = load.mount(path)
    assert found is not None, f"{name}: --config {path} is in no volume"
    mount, volume = found
    assert mount.get("readOnly") is True
    if "configMap" in volume:  # the DaemonSet: the ConfigMap's key is the file's name
        (source,) = [s for s, _ in load.configs]
        assert source.endswith(f"ConfigMap key {posixpath.basename(path)}")
    else:  # the static pod: the node's directory
        assert volume["hostPath"] == {"path": posixpath.dirname(path), "type": "Directory"}


@pytest.mark.parametrize("name", WORKLOADS)
def test_probes_hit_the_metrics_address(name: str) -> None:
    load = workload(name)
    assert load.pod["hostNetwork"] is True  # 127.0.0.1 in a probe is the node's loopback
    for source, config in _configs(load):
        assert config.metrics_host_port is not None, f"{source}: no metricsAddress to probe"
        host, port = config.metrics_host_port
        for probe, path in PROBE_PATHS.items():
            get = load.container[probe]["httpGet"]
            assert (get["host"], get["port"], get["path"]) == (host, port, path), (
                f"{name} {probe} vs {source}"
            )


@pytest.mark.parametrize("name", WORKLOADS)
def test_socket_is_in_the_host_directory_the_apiserver_uses(name: str) -> None:
    load = workload(name)
    document = yaml.safe_load(ENCRYPTION_CONFIG.read_text())
    (kms,) = [p["kms"] for r in document["resources"] for p in r["providers"] if "kms" in p]
    for source, config in _configs(load):
        assert config.socket_mode == 0o600, source
        assert kms["endpoint"] == f"unix://{config.socket}", source
        found = load.mount(config.socket)
        assert found is not None, f"{name}: socket {config.socket} is in no volume"
        mount, volume = found
        directory = posixpath.dirname(config.socket)
        assert mount["mountPath"] == directory
        assert not mount.get("readOnly", False)
        assert volume["hostPath"] == {"path": directory, "type": "DirectoryOrCreate"}


@pytest.mark.parametrize("name", WORKLOADS)
def test_socket_directory_is_handed_to_the_plugin_user(name: str) -> None:
    """kubelet creates the hostPath as root; the init container chowns it to the plugin's user."""
    load = workload(name)
    security = load.pod["securityContext"]
    (init,) = load.pod["initContainers"]
    owner = f"{security['runAsUser']}:{security['runAsGroup']}"
    assert init["command"][:2] == ["chown", owner]
    chowned = init["command"][2]
    assert {"name": "socket", "mountPath": chowned} in init["volumeMounts"]
    for _, config in _configs(load):
        assert posixpath.dirname(config.socket) == chowned
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert init["securityContext"]["allowPrivilegeEscalation"] is False
    assert init["securityContext"]["readOnlyRootFilesystem"] is True


def _paths(settings: object, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(settings, dict):
        for name, value in settings.items():
            yield from _paths(value, name)
    elif isinstance(settings, str | Path) and str(settings).startswith("/"):
        yield key, str(settings)


@pytest.mark.parametrize("name", WORKLOADS)
def test_every_file_a_backend_reads_is_mounted(name: str) -> None:
    load = workload(name)
    for source, config in _configs(load):
        for backend in (config.primary, *config.decrypt_only):
            settings = backend.settings.model_dump()
            for key, path in _paths(settings):
                if key == "module":  # a PKCS#11 module is part of the image
                    continue
                assert load.mount(path) is not None, f"{name}: {source} {key} {path} unmounted"
    for env in load.container.get("env", []):
        if env.get("value", "").startswith("/"):
            assert load.mount(env["value"]) is not None, f"{name}: {env['name']} unmounted"


@pytest.mark.parametrize("name", WORKLOADS)
def test_locked_down(name: str) -> None:
    load = workload(name)
    pod, container = load.pod, load.container
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int)
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["priorityClassName"] == "system-node-critical"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "runAsUser" not in security  # the pod's user, the one the init container chowns for
    for each in [*pod["containers"], *pod["initContainers"]]:
        assert each["resources"]["requests"].keys() >= {"cpu", "memory"}, each["name"]
        assert "memory" in each["resources"]["limits"], each["name"]
        image, _, tag = each["image"].rpartition(":")
        assert image in (IMAGE, f"{IMAGE}-pkcs11"), each["image"]
        assert tag == VERSION, each["image"]


# Fields only a DaemonSet's pod has (scheduling) or that are compared part by part below.
_DAEMONSET_ONLY = {"serviceAccountName", "nodeSelector", "tolerations"}
_DAEMONSET_ONLY |= {"terminationGracePeriodSeconds", "volumes", "containers"}


def _same_parts(pod: dict[str, Any]) -> dict[str, Any]:
    """What must not differ between the static pod and a DaemonSet's pod."""
    return {
        "pod": {k: v for k, v in pod.items() if k not in _DAEMONSET_ONLY},
        "containers": pod["containers"],
        "volumes": [v for v in pod["volumes"] if v["name"] != "config"],
    }


@pytest.mark.parametrize("overlay", ["local", "awskms", "vault"])
def test_static_pod_and_daemonset_agree(overlay: str) -> None:
    """Same user, probes, resources, socket and key volumes: only where plugin.yaml comes from
    (the node or a ConfigMap) and the scheduling fields differ."""
    assert _same_parts(workload("static-pod").pod) == _same_parts(
        workload(f"daemonset/{overlay}").pod
    )


def test_probe_paths_answer_on_a_running_plugin(tmp_path: Path) -> None:
    """The local overlay's plugin.yaml, moved into a scratch directory, served for real: each
    probe path of the manifests answers 200 on its metricsAddress."""
    (overlay,) = [o for o in OVERLAYS if o.name == "local"]
    document = yaml.safe_load((overlay / "plugin.yaml").read_text())
    key_file = tmp_path / "kek.key"
    create_keyring(key_file)
    port = free_port()
    document["socket"] = str(tmp_path / "kms.sock")
    document["metricsAddress"] = f"127.0.0.1:{port}"
    document["backends"]["primary"]["keyFile"] = str(key_file)
    config = tmp_path / "plugin.yaml"
    config.write_text(yaml.safe_dump(document))
    load = workload("static-pod")
    with run_plugin(config, metrics_port=port):
        assert Path(document["socket"]).stat().st_mode & 0o777 == 0o600
        for probe in PROBE_PATHS:
            path = load.container[probe]["httpGet"]["path"]
            url = f"http://127.0.0.1:{port}{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200, (probe, path)
