"""restart_patch on a real Deployment: the apiserver takes it as ``kubectl rollout restart``'s.

There is no kubelet or controller-manager, so what a rollout does is seen on the object: a new
pod template annotation (and generation), with the template's other annotations kept.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from lightkube.resources.apps_v1 import Deployment
from lightkube.types import PatchType

from sealbox.kube import KubeTarget, sync_client
from sealbox.sync import RESTART_ON_CHANGE, RESTARTED_AT, ConsumerIndex, restart_patch
from tests.integration.kube_apiserver import KubeApiserver

pytestmark = pytest.mark.integration

_RFC3339_SECONDS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)"


def _deployment(namespace: str) -> dict[str, Any]:
    env = {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "app",
            "namespace": namespace,
            "annotations": {RESTART_ON_CHANGE: "true"},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}, "annotations": {"team": "shop"}},
                "spec": {"containers": [{"name": "app", "image": "app:1", "env": [env]}]},
            },
        },
    }


def _template_annotations(kube: KubeApiserver, namespace: str) -> dict[str, str]:
    out = kube.kubectl("get", "deployment", "app", "-n", namespace, "-o", "json").stdout
    annotations: dict[str, str] = json.loads(out)["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_restart_patch_rolls_a_real_deployment_like_kubectl(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    kube_apiserver.kubectl("apply", "-f", "-", stdin=json.dumps(_deployment(kube_namespace)))
    now = datetime(2026, 12, 2, 9, 15, 30, tzinfo=UTC)
    with sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client:
        live = client.get(Deployment, "app", namespace=kube_namespace)
        index = ConsumerIndex()
        ref = index.put(live.to_dict(), kind="Deployment")
        assert ref is not None
        assert index.restart_needed(kube_namespace, "db", {"pw"}) == [ref]
        patched = client.patch(
            Deployment,
            ref.name,
            restart_patch(now),
            namespace=ref.namespace,
            patch_type=PatchType.STRATEGIC,
        )
    assert patched.metadata is not None
    assert live.metadata is not None
    assert patched.metadata.generation == (live.metadata.generation or 0) + 1
    assert _template_annotations(kube_apiserver, kube_namespace) == {
        "team": "shop",
        RESTARTED_AT: "2026-12-02T09:15:30Z",
    }

    # kubectl's own restart writes the same annotation, in the same format, over ours.
    kube_apiserver.kubectl("rollout", "restart", "deployment/app", "-n", kube_namespace)
    after = _template_annotations(kube_apiserver, kube_namespace)
    assert set(after) == {"team", RESTARTED_AT}
    assert re.fullmatch(_RFC3339_SECONDS, after[RESTARTED_AT])
    assert after[RESTARTED_AT] != "2026-12-02T09:15:30Z"
