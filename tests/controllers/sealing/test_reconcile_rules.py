"""The controller's pure rules: which Secret it may write and how (spec §2.5, §2.6), the status it
writes (§2.7), its metrics' upstream names (§3.5) and the label selector. No cluster needed."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sealbox.controllers.sealing.metrics import SealingMetrics
from sealbox.controllers.sealing.secrets import desired_secret, is_owned, plan_write
from sealbox.controllers.sealing.selector import parse_label_selector
from sealbox.controllers.sealing.status import SyncResult, next_status
from sealbox.errors import InputError

SS_META = {"name": "db", "namespace": "app", "uid": "uid-1"}
OWNER = {
    "apiVersion": "bitnami.com/v1alpha1",
    "kind": "SealedSecret",
    "name": "db",
    "uid": "uid-1",
    "controller": True,
}
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(minutes=5)


def _unsealed(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "app", "labels": {"l": "new"}},
        "type": "Opaque",
        "data": {"password": "bmV3"},
        **extra,
    }


def _existing(annotations: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "app",
            "resourceVersion": "7",
            "labels": {"old": "x"},
            **({"annotations": annotations} if annotations else {}),
            **meta,
        },
        "type": "Opaque",
        "data": {"password": "b2xk", "only-in-cluster": "eA=="},
    }


def test_the_owner_reference_is_exactly_upstreams() -> None:
    secret = desired_secret(_unsealed(), SS_META)
    assert secret["metadata"]["ownerReferences"] == [OWNER]
    assert "blockOwnerDeletion" not in secret["metadata"]["ownerReferences"][0]


def test_skip_set_owner_references_in_the_template_sets_none() -> None:
    unsealed = _unsealed()
    unsealed["metadata"]["annotations"] = {
        "sealedsecrets.bitnami.com/skip-set-owner-references": "true"
    }
    assert "ownerReferences" not in desired_secret(unsealed, SS_META)["metadata"]


def test_an_absent_secret_is_created_with_immutable() -> None:
    desired = desired_secret(_unsealed(immutable=True), SS_META)
    plan = plan_write(None, desired, owner_uid="uid-1")
    assert plan.action == "create"
    assert plan.body is not None
    assert plan.body["immutable"] is True


def test_a_foreign_secret_is_not_touched() -> None:
    plan = plan_write(_existing(), desired_secret(_unsealed(), SS_META), owner_uid="uid-1")
    assert plan.action == "foreign"
    assert plan.body is None


def test_a_secret_controlled_by_an_older_sealed_secret_of_that_name_is_foreign() -> None:
    stale = {**OWNER, "uid": "uid-0"}
    existing = _existing(ownerReferences=[stale])
    assert plan_write(existing, desired_secret(_unsealed(), SS_META), owner_uid="uid-1").action == (
        "foreign"
    )


def test_managed_takes_over_replacing_data_labels_annotations_and_owner() -> None:
    existing = _existing({"sealedsecrets.bitnami.com/managed": "true", "keep": "no"})
    plan = plan_write(existing, desired_secret(_unsealed(), SS_META), owner_uid="uid-1")
    assert plan.action == "update"
    assert plan.body is not None
    assert plan.body["data"] == {"password": "bmV3"}
    assert plan.body["metadata"]["labels"] == {"l": "new"}
    assert "annotations" not in plan.body["metadata"]  # replaced by the template's (none)
    assert plan.body["metadata"]["ownerReferences"] == [OWNER]
    assert plan.body["metadata"]["resourceVersion"] == "7"  # an update of what was read


def test_patch_merges_and_keeps_cluster_only_keys_without_taking_ownership() -> None:
    existing = _existing({"sealedsecrets.bitnami.com/patch": "true"})
    plan = plan_write(existing, desired_secret(_unsealed(), SS_META), owner_uid="uid-1")
    assert plan.action == "update"
    assert plan.body is not None
    assert plan.body["data"] == {"password": "bmV3", "only-in-cluster": "eA=="}
    assert plan.body["metadata"]["labels"] == {"old": "x", "l": "new"}
    assert plan.body["metadata"]["annotations"] == {"sealedsecrets.bitnami.com/patch": "true"}
    assert "ownerReferences" not in plan.body["metadata"]


def test_patch_with_managed_also_sets_the_owner() -> None:
    existing = _existing(
        {"sealedsecrets.bitnami.com/patch": "true", "sealedsecrets.bitnami.com/managed": "true"}
    )
    plan = plan_write(existing, desired_secret(_unsealed(), SS_META), owner_uid="uid-1")
    assert plan.body is not None
    assert plan.body["metadata"]["ownerReferences"] == [OWNER]


def test_type_is_always_set_and_immutable_never_on_update() -> None:
    existing = _existing(ownerReferences=[OWNER])
    desired = desired_secret(_unsealed(type="kubernetes.io/basic-auth", immutable=True), SS_META)
    plan = plan_write(existing, desired, owner_uid="uid-1")
    assert plan.body is not None
    assert plan.body["type"] == "kubernetes.io/basic-auth"
    assert "immutable" not in plan.body


def test_nothing_is_sent_when_nothing_changed() -> None:
    desired = desired_secret(_unsealed(), SS_META)
    current = {**desired, "metadata": {**desired["metadata"], "resourceVersion": "9"}}
    current["metadata"]["annotations"] = {}  # an empty map is the same as none
    assert plan_write(current, desired, owner_uid="uid-1").action == "unchanged"


def test_owned_means_controlled_by_the_same_named_sealed_secret_or_managed() -> None:
    assert is_owned({"name": "db", "ownerReferences": [OWNER]})
    assert not is_owned({"name": "other", "ownerReferences": [OWNER]})
    assert is_owned({"name": "x", "annotations": {"sealedsecrets.bitnami.com/managed": "true"}})
    assert not is_owned({"name": "db", "ownerReferences": [{**OWNER, "controller": False}]})


def test_status_has_upstreams_shape_with_a_reason_code() -> None:
    status = next_status(None, SyncResult(True, "Unsealed"), generation=1, now=T0)
    assert status == {
        "conditions": [
            {
                "type": "Synced",
                "status": "True",
                "reason": "Unsealed",
                "message": "",
                "lastUpdateTime": "2026-01-01T00:00:00Z",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "observedGeneration": 1,
    }


def test_status_is_not_rewritten_when_it_already_says_the_same() -> None:
    status = next_status(None, SyncResult(True, "Unsealed"), generation=1, now=T0)
    assert next_status(status, SyncResult(True, "Unsealed"), generation=1, now=T1) is None


def test_a_new_generation_is_written_and_the_transition_time_kept() -> None:
    status = next_status(None, SyncResult(True, "Unsealed"), generation=1, now=T0)
    again = next_status(status, SyncResult(True, "Unsealed"), generation=2, now=T1)
    assert again is not None
    assert again["observedGeneration"] == 2
    (synced,) = again["conditions"]
    assert synced["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert synced["lastUpdateTime"] == "2026-01-01T00:05:00Z"


def test_a_failure_then_a_success_clears_the_stale_message() -> None:
    failed = next_status(
        None,
        SyncResult(False, "NoMatchingKey", "no key could decrypt secret"),
        generation=1,
        now=T0,
    )
    other = next_status(failed, SyncResult(False, "ForeignSecret", "x"), generation=1, now=T1)
    assert other is not None  # same status, other reason: written (upstream kept the old text)
    assert other["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    healed = next_status(other, SyncResult(True, "Unsealed"), generation=1, now=T1)
    assert healed is not None
    (synced,) = healed["conditions"]
    assert (synced["status"], synced["reason"], synced["message"]) == ("True", "Unsealed", "")
    assert synced["lastTransitionTime"] == "2026-01-01T00:05:00Z"


def test_metrics_use_upstreams_names_and_values() -> None:
    registry = CollectorRegistry()
    metrics = SealingMetrics(
        registry, private_key_operations=lambda: 7, newest_key_backed_up=lambda: False
    )
    metrics.unseal_requests_total.inc()
    metrics.error("unmanaged", "app")
    sealed: dict[str, Any] = {
        "metadata": {
            "namespace": "app",
            "name": "db",
            "labels": {"app.kubernetes.io/instance": "web"},
        },
        "status": {"conditions": [{"type": "Synced", "status": "False"}]},
    }
    metrics.observe_conditions(sealed)
    text = generate_latest(registry).decode()
    assert 'sealed_secrets_controller_build_info{revision="' in text
    assert "sealed_secrets_controller_unseal_requests_total 1.0" in text
    assert (
        'sealed_secrets_controller_unseal_errors_total{namespace="app",reason="unmanaged"} 1.0'
        in text
    )
    assert 'sealed_secrets_controller_unseal_errors_total{namespace="",reason="fetch"} 0.0' in text
    assert (
        'sealed_secrets_controller_condition_info{condition="Synced",name="db",namespace="app",'
        'ss_app_kubernetes_io_instance="web"} -1.0' in text
    )
    assert "sealbox_sealing_private_key_operations_total 7.0" in text
    assert "sealbox_sealing_newest_key_backed_up 0.0" in text
    metrics.forget("app", "db")
    assert "sealed_secrets_controller_condition_info{" not in generate_latest(registry).decode()


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "api"}, False),
        ("app!=web", {}, True),
        ("tier", {"tier": ""}, True),
        ("!tier", {"tier": "x"}, False),
        ("env in (prod, stage),app=web", {"env": "stage", "app": "web"}, True),
        ("env notin (prod)", {"env": "prod"}, False),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector)(labels) is expected


def test_a_bad_label_selector_names_the_flag() -> None:
    with pytest.raises(InputError, match="--label-selector"):
        parse_label_selector("app=(web")
