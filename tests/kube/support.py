"""What the kube/ tests share: clients on the test apiserver, directly or through a proxy."""

from __future__ import annotations

import secrets
from pathlib import Path

import yaml
from lightkube.config.kubeconfig import SingleConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from sealbox.kube import KubeTarget, load_config
from tests.integration.kube_apiserver import KubeApiserver

__all__ = ["config_via", "secret"]


def config_via(
    apiserver: KubeApiserver, server: str, directory: Path, *, user: str = "admin"
) -> SingleConfig:
    """``user``'s config with the cluster's server replaced by ``server`` (a proxy's URL)."""
    document = apiserver.kubeconfig_document(user)
    document["clusters"][0]["cluster"]["server"] = server
    path = directory / f"kubeconfig-{user}-{secrets.token_hex(3)}.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_config(KubeTarget(kubeconfig=path), environ={})


def secret(name: str, namespace: str, value: str = "v", **labels: str) -> Secret:
    return Secret(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels or None),
        stringData={"value": value},
    )
