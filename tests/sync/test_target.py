"""The target Secret write plan: ESO's marks and creation/deletion policies, refusals (foreign,
missing, immutable), and no write at all when nothing changed."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.sync import (
    ANNOTATION_DATA_HASH,
    LABEL_MANAGED,
    LABEL_OWNER,
    Rendered,
    TargetPlan,
    data_hash,
    field_manager,
    owner_label,
    parse_external_secret,
    plan_remote_gone,
    plan_target,
)
from sealbox.sync.model import ExternalSecretSpec

ES: dict[str, Any] = {
    "apiVersion": "external-secrets.io/v1",
    "kind": "ExternalSecret",
    "metadata": {"name": "db", "namespace": "shop", "uid": "uid-1", "labels": {"team": "a"}},
}
OUR_REF = {
    "apiVersion": "external-secrets.io/v1",
    "kind": "ExternalSecret",
    "name": "db",
    "uid": "uid-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
RENDERED = Rendered("Opaque", {"user": b"admin", "pw": b"s3cret"}, {"app": "shop"}, {"n": "1"})


def spec(creation: str = "Owner", deletion: str = "Retain", **target: Any) -> ExternalSecretSpec:
    body = {
        "secretStoreRef": {"name": "bao"},
        "target": {"name": "db-secret", "creationPolicy": creation, "deletionPolicy": deletion}
        | {"template": {"metadata": {"labels": {"app": "shop"}}}}
        | target,
        "data": [{"secretKey": "user", "remoteRef": {"key": "k"}}],
    }
    return parse_external_secret({"metadata": ES["metadata"], "spec": body})


def b64(data: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in data.items()}


def secret(
    data: dict[str, bytes], *, labels: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": "db-secret",
        "namespace": "shop",
        "resourceVersion": "42",
        "labels": labels or {},
    }
    metadata.update(extra.pop("metadata", {}))
    return (
        {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque"}
        | {"data": b64(data)}
        | extra
    )


def applied(existing: dict[str, Any] | None, plan: TargetPlan) -> dict[str, Any]:
    """What the apiserver would hold after the write (it keeps resourceVersion-free fields)."""
    assert plan.body is not None
    after = copy.deepcopy(plan.body)
    after["metadata"]["resourceVersion"] = "43"
    return after


def test_owner_creates_with_eso_marks() -> None:
    plan = plan_target(ES, spec(), RENDERED, None)
    assert plan.action == "create"
    assert plan.changed_keys == {"user", "pw"}
    body = plan.body
    assert body is not None
    assert body["apiVersion"] == "v1"
    assert body["kind"] == "Secret"
    assert body["type"] == "Opaque"
    assert body["data"] == b64(dict(RENDERED.data))
    meta = body["metadata"]
    assert meta["name"] == "db-secret"
    assert meta["namespace"] == "shop"
    assert meta["labels"] == {
        "app": "shop",
        LABEL_MANAGED: "true",
        LABEL_OWNER: owner_label("shop", "db"),
    }
    assert meta["annotations"] == {"n": "1", ANNOTATION_DATA_HASH: data_hash(RENDERED.data)}
    assert meta["ownerReferences"] == [OUR_REF]
    assert "resourceVersion" not in meta
    assert "immutable" not in body
    assert "s3cret" not in repr(plan)


def test_orphan_creates_without_owner_marks() -> None:
    plan = plan_target(ES, spec("Orphan"), RENDERED, None)
    assert plan.action == "create"
    assert plan.body is not None
    meta = plan.body["metadata"]
    assert LABEL_OWNER not in meta["labels"]
    assert meta["labels"][LABEL_MANAGED] == "true"
    assert "ownerReferences" not in meta


def test_merge_needs_the_secret_and_none_never_writes() -> None:
    missing = plan_target(ES, spec("Merge"), RENDERED, None)
    assert missing.action == "missing"
    assert "shop/db-secret" in missing.message
    assert plan_target(ES, spec("None"), RENDERED, None) == TargetPlan(
        "none", message="creationPolicy None: the Secret is not written"
    )
    assert plan_target(ES, spec("None"), RENDERED, secret({"x": b"1"})).action == "none"


@pytest.mark.parametrize("creation", ["Owner", "Orphan", "Merge"])
def test_idempotent_second_plan_is_none(creation: str) -> None:
    existing = secret({"other": b"kept"}, labels={LABEL_MANAGED: "true", "foo": "bar"})
    first = plan_target(ES, spec(creation), RENDERED, existing)
    assert first.action == "update"
    assert first.body is not None
    assert first.body["metadata"]["resourceVersion"] == "42"
    assert first.body["metadata"]["labels"]["foo"] == "bar"  # others' labels kept
    assert plan_target(ES, spec(creation), RENDERED, applied(existing, first)).action == "none"


def test_merge_keeps_other_keys_and_owner_references() -> None:
    other_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u9"}
    existing = secret(
        {"other": b"kept", "user": b"old"},
        labels={"foo": "bar"},
        metadata={"ownerReferences": [other_ref]},
    )
    plan = plan_target(ES, spec("Merge"), RENDERED, existing)
    assert plan.action == "update"
    assert plan.changed_keys == {"user", "pw"}
    body = plan.body
    assert body is not None
    assert body["data"] == b64({"other": b"kept", "user": b"admin", "pw": b"s3cret"})
    assert body["metadata"]["ownerReferences"] == [other_ref]
    assert LABEL_MANAGED not in body["metadata"]["labels"]
    final = {"other": b"kept", "user": b"admin", "pw": b"s3cret"}
    assert body["metadata"]["annotations"][ANNOTATION_DATA_HASH] == data_hash(final)


def test_merge_removes_keys_it_wrote_before_and_no_longer_renders() -> None:
    managed = [
        {
            "manager": field_manager("db"),
            "operation": "Update",
            "fieldsV1": {"f:data": {"f:gone": {}, "f:user": {}}},
        }
    ]
    existing = secret(
        {"other": b"1", "gone": b"2", "user": b"admin"}, metadata={"managedFields": managed}
    )
    plan = plan_target(ES, spec("Merge"), RENDERED, existing)
    assert plan.body is not None
    assert set(plan.body["data"]) == {"other", "user", "pw"}
    assert plan.changed_keys == {"gone", "pw"}


def test_owner_replaces_the_whole_data_and_reports_changed_keys() -> None:
    existing = secret(
        {"user": b"admin", "pw": b"old", "stale": b"x"},
        labels={LABEL_MANAGED: "true", LABEL_OWNER: owner_label("shop", "db")},
        metadata={"ownerReferences": [OUR_REF]},
    )
    plan = plan_target(ES, spec(), RENDERED, existing)
    assert plan.action == "update"
    assert plan.changed_keys == {"pw", "stale"}
    assert "s3cret" not in plan.message
    assert "pw, stale" in plan.message


def test_adopts_an_eso_managed_secret_and_keeps_unchanged_ones_unwritten() -> None:
    data = dict(RENDERED.data)
    labels = {"app": "shop", LABEL_MANAGED: "true", LABEL_OWNER: owner_label("shop", "db")}
    synced = secret(
        data,
        labels=labels,
        metadata={
            "annotations": {"n": "1", ANNOTATION_DATA_HASH: data_hash(data)},
            "ownerReferences": [OUR_REF],
        },
    )
    assert plan_target(ES, spec(), RENDERED, synced) == TargetPlan("none")


@pytest.mark.parametrize("creation", ["Owner", "Orphan"])
def test_foreign_secrets_are_refused(creation: str) -> None:
    unmanaged = secret({"x": b"1"})
    plan = plan_target(ES, spec(creation), RENDERED, unmanaged)
    assert plan.action == "foreign"
    assert plan.body is None
    assert "not managed" in plan.message
    controlled = secret(
        {"x": b"1"},
        labels={LABEL_MANAGED: "true"},
        metadata={"ownerReferences": [OUR_REF | {"uid": "other", "name": "other-es"}]},
    )
    plan = plan_target(ES, spec(creation), RENDERED, controlled)
    assert plan.action == "foreign"
    assert "controlled by ExternalSecret other-es" in plan.message
    other_es = secret({"x": b"1"}, labels={LABEL_MANAGED: "true", LABEL_OWNER: "someone"})
    assert plan_target(ES, spec(creation), RENDERED, other_es).action == "foreign"


def test_merge_writes_into_a_secret_controlled_by_another() -> None:
    controlled = secret({"x": b"1"}, metadata={"ownerReferences": [OUR_REF | {"uid": "o"}]})
    assert plan_target(ES, spec("Merge"), RENDERED, controlled).action == "update"


def test_orphan_drops_our_owner_marks() -> None:
    existing = secret(
        dict(RENDERED.data),
        labels={LABEL_MANAGED: "true", LABEL_OWNER: owner_label("shop", "db")},
        metadata={"ownerReferences": [OUR_REF]},
    )
    plan = plan_target(ES, spec("Orphan"), RENDERED, existing)
    assert plan.action == "update"
    assert plan.changed_keys == frozenset()
    assert plan.body is not None
    assert LABEL_OWNER not in plan.body["metadata"]["labels"]
    assert "ownerReferences" not in plan.body["metadata"]


def test_immutable() -> None:
    plan = plan_target(ES, spec(immutable=True), RENDERED, None)
    assert plan.body is not None
    assert plan.body["immutable"] is True
    frozen = secret({"user": b"other"}, labels={LABEL_MANAGED: "true"}, immutable=True)
    refused = plan_target(ES, spec(immutable=True), RENDERED, frozen)
    assert refused.action == "immutable"
    assert refused.body is None
    same = applied(None, plan)
    assert plan_target(ES, spec(immutable=True), RENDERED, same).action == "none"
    # the apiserver cannot make an immutable Secret mutable again: it stays immutable
    relabel = plan_target(
        ES,
        spec(),
        RENDERED,
        same | {"metadata": same["metadata"] | {"labels": {LABEL_MANAGED: "true"}}},
    )
    assert relabel.action == "update"
    assert relabel.body is not None
    assert relabel.body["immutable"] is True


def test_without_template_the_external_secrets_metadata_is_copied_and_type_kept() -> None:
    bare = parse_external_secret(
        {
            "metadata": ES["metadata"],
            "spec": {
                "secretStoreRef": {"name": "bao"},
                "target": {"name": "db-secret"},
                "data": [{"secretKey": "user", "remoteRef": {"key": "k"}}],
            },
        }
    )
    existing = secret({"tls.crt": b"x"}, labels={LABEL_MANAGED: "true"}, type="kubernetes.io/tls")
    plan = plan_target(ES, bare, Rendered("Opaque", {"user": b"a"}), existing)
    assert plan.body is not None
    assert plan.body["type"] == "kubernetes.io/tls"
    assert plan.body["metadata"]["labels"]["team"] == "a"


def test_template_labels_it_no_longer_sets_are_removed() -> None:
    managed = [
        {
            "manager": field_manager("db"),
            "fieldsV1": {"f:metadata": {"f:labels": {"f:old": {}}, "f:annotations": {"f:o": {}}}},
        }
    ]
    existing = secret(
        dict(RENDERED.data),
        labels={LABEL_MANAGED: "true", "old": "1", "theirs": "2"},
        metadata={"managedFields": managed, "annotations": {"o": "x"}},
    )
    plan = plan_target(ES, spec(), RENDERED, existing)
    assert plan.body is not None
    assert "old" not in plan.body["metadata"]["labels"]
    assert plan.body["metadata"]["labels"]["theirs"] == "2"
    assert "o" not in plan.body["metadata"]["annotations"]


def test_remote_gone_retain_delete_merge() -> None:
    ours = secret(
        {"user": b"a", "x": b"b"},
        labels={LABEL_MANAGED: "true", LABEL_OWNER: owner_label("shop", "db")},
        metadata={"ownerReferences": [OUR_REF]},
    )
    assert plan_remote_gone(ES, spec(), ours).action == "none"
    assert plan_remote_gone(ES, spec(deletion="Delete"), None).action == "none"
    delete = plan_remote_gone(ES, spec(deletion="Delete"), ours)
    assert delete.action == "delete"
    assert delete.changed_keys == {"user", "x"}
    assert plan_remote_gone(ES, spec(deletion="Delete"), secret({"x": b"1"})).action == "foreign"
    emptied = plan_remote_gone(ES, spec(deletion="Merge"), ours)
    assert emptied.action == "update"
    assert emptied.body is not None
    assert emptied.body["data"] == {}
    assert emptied.body["metadata"]["annotations"][ANNOTATION_DATA_HASH] == data_hash({})
    assert plan_remote_gone(ES, spec(deletion="Merge"), applied(ours, emptied)).action == "none"


def test_remote_gone_merge_into_a_shared_secret_removes_only_our_keys() -> None:
    shared = secret({"user": b"a", "theirs": b"b"})
    plan = plan_remote_gone(ES, spec("Merge", "Merge"), shared)
    assert plan.action == "update"
    assert plan.changed_keys == {"user"}
    assert plan.body is not None
    assert plan.body["data"] == b64({"theirs": b"b"})
    frozen = secret({"user": b"a"}, immutable=True)
    assert plan_remote_gone(ES, spec("Merge", "Merge"), frozen).action == "immutable"


_KEYS = st.text(alphabet="abc-_.", min_size=1, max_size=4)
_DATA = st.dictionaries(_KEYS, st.binary(max_size=8), max_size=4)


@given(
    old=_DATA,
    new=_DATA,
    creation=st.sampled_from(["Owner", "Orphan", "Merge"]),
    labels=st.dictionaries(_KEYS, _KEYS, max_size=3),
)
def test_applying_the_plan_makes_the_next_plan_none(
    old: dict[str, bytes], new: dict[str, bytes], creation: str, labels: dict[str, str]
) -> None:
    existing = secret(old, labels=labels | {LABEL_MANAGED: "true"})
    rendered = Rendered("Opaque", new, {"app": "shop"}, {})
    plan = plan_target(ES, spec(creation), rendered, existing)
    assert plan.action in ("update", "none")
    if plan.action == "update":
        after = applied(existing, plan)
        assert plan.changed_keys == {
            k
            for k in old.keys() | new.keys()
            if old.get(k) != (new.get(k) if creation != "Merge" or k in new else old.get(k))
        }
        assert plan_target(ES, spec(creation), rendered, after).action == "none"
        decoded = {k: base64.b64decode(v) for k, v in after["data"].items()}
        assert after["metadata"]["annotations"][ANNOTATION_DATA_HASH] == data_hash(decoded)
