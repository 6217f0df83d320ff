"""Finding the cluster the way kubectl does, against the real apiserver."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from lightkube import Client
from lightkube.resources.core_v1 import Namespace

from sealbox.errors import KubeConfigError
from sealbox.kube import KubeTarget, load_config
from tests.integration.kube_apiserver import KubeApiserver


def _names(client: Client) -> set[str]:
    return {ns.metadata.name for ns in client.list(Namespace) if ns.metadata and ns.metadata.name}


def test_a_kubeconfig_flag_reaches_the_apiserver(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    config = load_config(KubeTarget(kubeconfig=kube_apiserver.kubeconfig), environ={})
    assert config.cluster.server == kube_apiserver.url
    with Client(config) as client:
        assert kube_namespace in _names(client)


def test_kubeconfig_list_merges_first_wins_with_paths_relative_to_each_file(
    kube_apiserver: KubeApiserver, tmp_path: Path
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shutil.copy(kube_apiserver.ca_file, second / "ca.crt")
    good = kube_apiserver.kubeconfig_document("admin", context="real")
    good["clusters"][0]["cluster"]["certificate-authority"] = "ca.crt"  # relative to b/
    decoy = kube_apiserver.kubeconfig_document("admin", context="real")
    decoy["clusters"][0]["name"] = "other"
    decoy["contexts"] = [{"name": "mine", "context": {"cluster": "sealbox-test", "user": "admin"}}]
    decoy["current-context"] = "mine"
    del decoy["users"]
    (first / "config").write_text(yaml.safe_dump(decoy))
    (second / "config").write_text(yaml.safe_dump(good))
    environ = {"KUBECONFIG": f"{tmp_path / 'missing'}:{first / 'config'}:{second / 'config'}"}
    config = load_config(KubeTarget(), environ=environ)
    assert config.context_name == "mine"  # the first file's current-context
    assert config.cluster.certificate_auth == str(second / "ca.crt")
    with Client(config) as client:
        assert "default" in _names(client)


def test_an_unknown_context_lists_the_ones_there_are(kube_apiserver: KubeApiserver) -> None:
    target = KubeTarget(kubeconfig=kube_apiserver.kubeconfig, context="prod")
    with pytest.raises(KubeConfigError, match=r"--context prod: no such context .*sealbox-test"):
        load_config(target, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", r"malformed YAML"),
        ("- 1", r"not a kubeconfig"),
        ("clusters: [{cluster: {}}]", r"each entry needs a name"),
        ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []", r"a Policy, not a kubeconfig"),
    ],
)
def test_a_broken_kubeconfig_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(KubeConfigError, match=message):
        load_config(KubeTarget(kubeconfig=path), environ={})


def test_nothing_configured_says_what_would_be_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigError, match=r"no kubeconfig: pass --kubeconfig"):
        load_config(KubeTarget(), environ={}, service_account_dir=tmp_path / "sa")


def test_in_a_pod_the_service_account_is_used(
    kube_apiserver: KubeApiserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text(kube_apiserver.admin.token)
    (account / "namespace").write_text("kube-system")
    shutil.copy(kube_apiserver.ca_file, account / "ca.crt")
    environ = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(kube_apiserver.port),
    }
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(kube_apiserver.port))
    config = load_config(KubeTarget(), environ=environ, service_account_dir=account)
    assert config.namespace == "kube-system"
    with Client(config) as client:
        assert "kube-system" in _names(client)
