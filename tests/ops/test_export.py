"""Export over the in-memory store: what is exported, skipped or failed, and what is dropped."""

from __future__ import annotations

import json

from sealbox.ops import ExportedObject, ExportFailure, ExportResult, export_objects, scan_prefixes
from sealbox.storage import DEFAULT_PREFIX, encode_secret, wrap_unknown
from tests.doubles.memory_kv import MemoryKV
from tests.ops.world import NEW, configmap_key, plaintext, secret_key, seed, transformers

WIDGET_KEY = "/registry/example.com/widgets/team-a/w1"
WIDGET = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w1", "namespace": "team-a", "uid": "u-1", "resourceVersion": "7"},
    "spec": {"color": "blue"},
}
DEPLOYMENT_KEY = "/registry/deployments/team-a/web"
MANAGED = [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1"}]


def _store() -> MemoryKV:
    store = MemoryKV()
    writer = transformers(NEW)
    full = encode_secret(
        name="s000",
        namespace="team-a",
        data={"password": b"hunter2"},
        uid="uid-s000",
        creation_timestamp=1_700_000_000,
        labels={"app": "db"},
        managed_fields=MANAGED,
    )
    store.put(secret_key(0).encode(), writer.write(secret_key(0), full))
    seed(store, [secret_key(1), configmap_key(0)], NEW)
    copied = store.values()[secret_key(1).encode()]
    store.put(secret_key(2).encode(), copied)  # secretbox has no AAD: reads fine under any key
    store.put(b"/registry/secrets/team-a/s003/extra", copied)  # three segments: not a key
    store.put(secret_key(4).encode(), plaintext(secret_key(4)))  # identity not in the chain
    store.put(WIDGET_KEY.encode(), json.dumps(WIDGET).encode())  # no rule: identity
    store.put(DEPLOYMENT_KEY.encode(), wrap_unknown("apps/v1", "Deployment", b""))
    store.put(b"/registry/pods/team-a/p1", b"not an object")
    return store


def _export(
    store: MemoryKV, *, keep_metadata: bool = False
) -> tuple[list[ExportedObject], ExportResult]:
    result = ExportResult()
    objects = export_objects(
        store,
        scan_prefixes(DEFAULT_PREFIX, []),
        transformers(NEW),
        result,
        keep_metadata=keep_metadata,
    )
    return list(objects), result


def test_exported_skipped_and_failed() -> None:
    objects, result = _export(_store())
    by_key = {item.key: item for item in objects}
    assert sorted(by_key) == sorted(
        [secret_key(0), secret_key(1), secret_key(2), configmap_key(0), WIDGET_KEY]
    )
    assert result.exported == 5
    widget = by_key[WIDGET_KEY]
    assert (widget.resource, widget.namespace, widget.name) == (
        "widgets.example.com",
        "team-a",
        "w1",
    )
    assert widget.manifest["spec"] == {"color": "blue"}
    secret = by_key[secret_key(0)]
    assert (secret.resource, secret.namespace, secret.name) == ("secrets", "team-a", "s000")
    assert secret.manifest["kind"] == "Secret"
    assert secret.manifest["data"] == {"password": "aHVudGVyMg=="}
    failures = {failure.key: failure for failure in result.failures}
    assert set(failures) == {
        "/registry/secrets/team-a/s003/extra",
        secret_key(4),
        DEPLOYMENT_KEY,
        "/registry/pods/team-a/p1",
    }
    assert failures[DEPLOYMENT_KEY] == ExportFailure(
        DEPLOYMENT_KEY, "Deployment: only its metadata decodes", skipped=True
    )
    assert "identity is not in the chain" in failures[secret_key(4)].reason
    assert "not a Kubernetes object" in failures["/registry/pods/team-a/p1"].reason
    assert "segments after the resource" in failures["/registry/secrets/team-a/s003/extra"].reason
    assert [f.skipped for f in result.failures].count(True) == 1
    for failure in result.failures:
        assert not failure.reason.startswith(failure.key)  # the key is said once, by the report
    assert "hunter2" not in repr(objects) + repr(result)


def test_cluster_fields_are_dropped_unless_kept() -> None:
    objects, _ = _export(_store())
    by_key = {item.key: item for item in objects}
    metadata = by_key[secret_key(0)].manifest["metadata"]
    assert metadata == {"name": "s000", "namespace": "team-a", "labels": {"app": "db"}}
    assert by_key[WIDGET_KEY].manifest["metadata"] == {"name": "w1", "namespace": "team-a"}
    kept, _ = _export(_store(), keep_metadata=True)
    metadata = {item.key: item for item in kept}[secret_key(0)].manifest["metadata"]
    assert metadata["uid"] == "uid-s000"
    assert metadata["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert metadata["managedFields"] == MANAGED


def test_the_export_runs_in_key_order_and_resumes_after_the_last_key_done() -> None:
    store = MemoryKV()
    seed(store, [secret_key(i) for i in range(5)] + [configmap_key(0)], NEW)
    prefixes = scan_prefixes(DEFAULT_PREFIX, ["secrets", "configmaps"])
    result = ExportResult()
    objects = export_objects(store, prefixes, transformers(NEW), result)
    first = [next(objects).key for _ in range(3)]
    assert first == [configmap_key(0), secret_key(0), secret_key(1)]
    # The caller holds secret_key(1) and has not finished with it: it is not done yet.
    assert (result.exported, result.last_key) == (2, secret_key(0))
    resumed = ExportResult()
    rest = export_objects(store, prefixes, transformers(NEW), resumed, start_after=result.last_key)
    assert [item.key for item in rest] == [secret_key(i) for i in range(1, 5)]
    assert (resumed.exported, resumed.last_key) == (4, secret_key(4))


def test_failed_and_skipped_keys_count_as_done() -> None:
    store = _store()
    result = ExportResult()
    objects = list(export_objects(store, [b"/registry/pods/"], transformers(NEW), result))
    assert objects == []
    assert result.last_key == "/registry/pods/team-a/p1"  # failed: settled all the same
