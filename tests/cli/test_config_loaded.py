"""``sealbox config loaded`` against an apiserver that cannot answer the question, each way.

The session's shared apiserver runs without an EncryptionConfiguration, which is one of the ways;
the others are a user without RBAC on ``/metrics``, an apiserver that is not there, and one
whose certificate the kubeconfig does not trust. Each is one ``error:`` line naming the URL and
what to do, with its own exit code, and nothing on stdout. The happy path and the reload are in
tests/conformance/test_hot_reload.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from sealbox.cli import app
from tests.integration.etcd_server import make_tls_files
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import free_port

_CONFIG = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "encryption-config.yaml"
    path.write_text(_CONFIG)
    return path


def _run(kubeconfig: Path, *args: str) -> Result:
    argv = ["config", "loaded", "--kubeconfig", str(kubeconfig), *args]
    return CliRunner().invoke(app, argv, catch_exceptions=False)


def _one_error(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def test_an_apiserver_without_encryption_config_names_the_flags(
    kube_apiserver: KubeApiserver, config_file: Path
) -> None:
    line = _one_error(_run(kube_apiserver.kubeconfig, str(config_file)), 2)
    assert f"{kube_apiserver.url}/metrics" in line
    assert "apiserver_encryption_config_controller_last_config_info" in line
    assert "--encryption-provider-config-automatic-reload" in line


def test_a_user_without_metrics_rbac_is_told_the_rule(
    kube_apiserver: KubeApiserver, config_file: Path
) -> None:
    line = _one_error(_run(kube_apiserver.kubeconfig_for("alice"), str(config_file)), 2)
    assert 'User "alice" cannot get path "/metrics"' in line  # the apiserver's own words
    assert 'nonResourceURLs: ["/metrics"], verbs: ["get"]' in line


def test_an_apiserver_that_is_not_there_is_unavailable(
    kube_apiserver: KubeApiserver, config_file: Path
) -> None:
    absent = f"https://127.0.0.1:{free_port()}"
    result = _run(
        kube_apiserver.kubeconfig, "--apiserver", absent, "--timeout", "2s", str(config_file)
    )
    line = _one_error(result, 3)
    assert f"{absent}/metrics" in line
    assert "ConnectError" in line or "cannot connect" in line


def test_a_certificate_the_kubeconfig_does_not_trust_is_a_setup_error(
    kube_apiserver: KubeApiserver, config_file: Path, tmp_path: Path
) -> None:
    document = kube_apiserver.kubeconfig_document("admin")
    other_ca = make_tls_files(tmp_path / "other-ca").ca
    document["clusters"][0]["cluster"]["certificate-authority"] = str(other_ca)
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(document))
    line = _one_error(_run(kubeconfig, str(config_file)), 2)
    assert "TLS certificate not trusted" in line
    assert "certificate-authority" in line


def test_each_failing_apiserver_gets_its_own_error_line(
    kube_apiserver: KubeApiserver, config_file: Path
) -> None:
    """One forbidden, one unreachable: a line for each, in the order asked, and the higher exit
    code of the two."""
    absent = f"https://127.0.0.1:{free_port()}"
    result = _run(
        kube_apiserver.kubeconfig_for("alice"),
        "--apiserver",
        kube_apiserver.url,
        "--apiserver",
        absent,
        "--timeout",
        "2s",
        str(config_file),
    )
    assert result.exit_code == 3, result.stderr  # unreachable (3) outranks forbidden (2)
    lines = result.stderr.splitlines()
    assert [line.split("/metrics")[0] for line in lines] == [
        f"error: {kube_apiserver.url}",
        f"error: {absent}",
    ]
