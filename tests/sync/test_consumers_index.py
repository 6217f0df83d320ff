"""ConsumerIndex and stale_pods: who must restart when keys change, and who still holds the old."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sealbox.sync import RESTART_ON_CHANGE, ConsumerIndex, WorkloadRef, stale_pods

OPT_IN = {RESTART_ON_CHANGE: "true"}


def _container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "app:1", **fields}


def _env(secret: str, key: str) -> dict[str, Any]:
    return {"env": [{"name": "V", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}]}


def _mount(secret: str, sub_path: str | None = None) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": "s", "mountPath": "/s"}
    if sub_path is not None:
        mount["subPath"] = sub_path
    return {"volumeMounts": [mount], "_volumes": [{"name": "s", "secret": {"secretName": secret}}]}


def _workload(
    kind: str,
    name: str,
    reads: dict[str, Any],
    *,
    annotations: dict[str, str] | None = None,
    namespace: str = "shop",
) -> dict[str, Any]:
    container = dict(reads)
    volumes = container.pop("_volumes", [])
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "template": {"spec": {"containers": [_container(**container)], "volumes": volumes}}
        },
    }


def test_only_opted_in_env_env_from_and_sub_path_readers_restart() -> None:
    index = ConsumerIndex()
    index.put(_workload("Deployment", "env", _env("db", "pw"), annotations=OPT_IN))
    index.put(_workload("StatefulSet", "sub", _mount("db", "pw"), annotations=OPT_IN))
    index.put(
        _workload(
            "DaemonSet",
            "envfrom",
            {"envFrom": [{"secretRef": {"name": "db"}}]},
            annotations=OPT_IN,
        )
    )
    index.put(_workload("Deployment", "vol", _mount("db"), annotations=OPT_IN))
    index.put(_workload("Deployment", "no-opt-in", _env("db", "pw")))
    index.put(
        _workload(
            "Deployment", "says-yes", _env("db", "pw"), annotations={RESTART_ON_CHANGE: "yes"}
        )
    )
    assert index.restart_needed("shop", "db", {"pw"}) == [
        WorkloadRef("DaemonSet", "shop", "envfrom"),
        WorkloadRef("Deployment", "shop", "env"),
        WorkloadRef("StatefulSet", "shop", "sub"),
    ]
    assert len(index.consumers("shop", "db")) == 6


def test_only_readers_of_a_changed_key_restart() -> None:
    index = ConsumerIndex()
    index.put(_workload("Deployment", "pw", _env("db", "pw"), annotations=OPT_IN))
    index.put(_workload("Deployment", "user", _env("db", "user"), annotations=OPT_IN))
    index.put(_workload("Deployment", "sub-user", _mount("db", "user"), annotations=OPT_IN))
    assert index.restart_needed("shop", "db", {"pw"}) == [WorkloadRef("Deployment", "shop", "pw")]
    assert index.restart_needed("shop", "db", set()) == []
    assert index.restart_needed("shop", "other", {"pw"}) == []
    assert index.restart_needed("elsewhere", "db", {"pw"}) == []


def test_a_plain_and_a_sub_path_mount_of_one_volume_restarts_for_the_sub_path() -> None:
    reads = _mount("db", "pw")
    reads["volumeMounts"].append({"name": "s", "mountPath": "/all"})
    index = ConsumerIndex()
    ref = index.put(_workload("Deployment", "both", reads, annotations=OPT_IN))
    assert index.restart_needed("shop", "db", {"pw"}) == [ref]
    assert index.restart_needed("shop", "db", {"user"}) == []  # only through the live volume


def test_updates_replace_and_remove_one_workload() -> None:
    index = ConsumerIndex()
    ref = index.put(_workload("Deployment", "app", _env("db", "pw")))
    assert ref == WorkloadRef("Deployment", "shop", "app")
    assert index.restart_needed("shop", "db", {"pw"}) == []  # not opted in yet
    index.put(_workload("Deployment", "app", _env("db", "pw"), annotations=OPT_IN))
    assert index.restart_needed("shop", "db", {"pw"}) == [ref]
    index.put(_workload("Deployment", "app", _env("api", "token"), annotations=OPT_IN))
    assert index.restart_needed("shop", "db", {"pw"}) == []
    assert index.consumers("shop", "db") == []
    assert index.restart_needed("shop", "api", {"token"}) == [ref]
    index.remove(ref)
    index.remove(ref)  # twice is fine
    assert index.restart_needed("shop", "api", {"token"}) == []
    assert len(index) == 0
    assert ref not in index


def test_kinds_other_than_the_rollout_kinds_are_not_indexed() -> None:
    index = ConsumerIndex()
    assert index.put(_workload("ReplicaSet", "rs", _env("db", "pw"), annotations=OPT_IN)) is None
    assert index.put({"kind": "Deployment", "metadata": {"name": "no-namespace"}}) is None
    listed = _workload("Deployment", "listed", _env("db", "pw"), annotations=OPT_IN)
    del listed["kind"]  # list items come without one
    assert index.put(listed, kind="Deployment") == WorkloadRef("Deployment", "shop", "listed")
    assert len(index) == 1


NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _pod(name: str, started: str, reads: dict[str, Any], **status: Any) -> dict[str, Any]:
    workload = _workload("Pod", name, reads)
    return {
        "metadata": {**workload["metadata"], "creationTimestamp": started},
        "spec": workload["spec"]["template"]["spec"],
        "status": {"startTime": started, **status},
    }


def test_stale_pods_started_before_the_value_reading_it_at_start() -> None:
    before, after = "2026-12-02T08:00:00Z", "2026-12-02T09:30:00Z"
    pods = [
        _pod("old-env", before, _env("db", "pw")),
        _pod("old-sub", before, _mount("db", "pw")),
        _pod("old-volume", before, _mount("db")),  # live update: not stale
        _pod("new-env", after, _env("db", "pw")),
        _pod("old-other", before, _env("api", "pw")),
        _pod("done", before, _env("db", "pw"), phase="Succeeded"),
        _pod("no-time", "garbage", _env("db", "pw")),
        {**_pod("elsewhere", before, _env("db", "pw")), "metadata": {"namespace": "x"}},
    ]
    assert stale_pods("shop", "db", NOW, pods) == [
        WorkloadRef("Pod", "shop", "old-env"),
        WorkloadRef("Pod", "shop", "old-sub"),
    ]
    assert stale_pods("shop", "db", NOW, pods, keys={"user"}) == []


def test_stale_pods_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        stale_pods("shop", "db", datetime(2026, 1, 1), [])
