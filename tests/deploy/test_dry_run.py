"""Every object under deploy/ is accepted by a real kube-apiserver (``apply --dry-run=server``).

Objects go to the test's namespace instead of kube-system: the server checks them the same way
(schema, defaulting, admission: the Pod's service account and priority class must exist), and a
dry run in a namespace of its own cannot disturb another test.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import CLUSTER_SCOPED, KUSTOMIZATIONS, STATIC_POD, relative, render
from tests.integration.kube_apiserver import KubeApiserver

pytestmark = pytest.mark.integration


def _into(namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
    moved = copy.deepcopy(obj)
    if "namespace" in moved["metadata"]:
        moved["metadata"]["namespace"] = namespace
    return moved


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=relative)
def test_server_accepts(
    directory: Path, kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    objects = [_into(kube_namespace, o) for o in render(directory)]
    namespaced = [o for o in objects if o["kind"] not in CLUSTER_SCOPED]
    assert all(o["metadata"].get("namespace") == kube_namespace for o in namespaced)
    result = kube_apiserver.kubectl(
        "apply", "--dry-run=server", "-o", "name", "-f", "-", stdin=yaml.safe_dump_all(objects)
    )
    names = result.stdout.split()
    assert len(names) == len(objects), result.stdout
    # A dry run writes nothing.
    left = kube_apiserver.kubectl("get", "all,configmaps,serviceaccounts", "-n", kube_namespace)
    assert "sealbox-kms" not in left.stdout


def test_server_refuses_a_broken_manifest(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    """The check above has teeth: a misspelt field or a bad value is refused, not ignored."""
    (pod,) = [_into(kube_namespace, o) for o in render(STATIC_POD)]
    misspelt = copy.deepcopy(pod)
    misspelt["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
    wrong = copy.deepcopy(pod)
    wrong["spec"]["volumes"][0]["hostPath"]["type"] = "Folder"
    for broken in (misspelt, wrong):
        result = kube_apiserver.kubectl(
            "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(broken), check=False
        )
        assert result.returncode != 0, result.stdout
