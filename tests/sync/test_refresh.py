"""The refresh decision (ESO's rules, the whole matrix), ESO's hashes, and the spread schedule."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sealbox.sync import (
    ANNOTATION_DATA_HASH,
    LABEL_MANAGED,
    LABEL_OWNER,
    MAX_JITTER,
    STARTUP_SPREAD,
    Decision,
    ExternalSecretSpec,
    RefreshPolicy,
    RefreshReason,
    StoreRef,
    SyncStatus,
    TargetSpec,
    data_hash,
    field_manager,
    needs_refresh,
    next_refresh,
    owner_label,
    synced_resource_version,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _spec(
    policy: RefreshPolicy = RefreshPolicy.PERIODIC, interval: timedelta = HOUR
) -> ExternalSecretSpec:
    return ExternalSecretSpec(StoreRef("s"), TargetSpec("t"), interval, policy)


META: dict[str, Any] = {"generation": 2, "labels": {"app": "shop"}, "annotations": {"a": "1"}}
CURRENT = synced_resource_version(2, {"app": "shop"}, {"a": "1"})


def _status(
    refreshed: datetime | None = NOW - timedelta(minutes=10), version: str = CURRENT
) -> SyncStatus:
    return SyncStatus(refreshed, version)


# Upstream's published ObjectHash vectors (runtime/esutils/utils_test.go): Go's %+v text hashed.
def test_data_hash_matches_esos_vector() -> None:
    data = {"foo": b"value1", "bar": b"value2"}
    assert data_hash(data) == "1bed8bcbcb4547ffe19a19cd47d9078e84aa6598266d86b99f992d64"


def test_data_hash_is_the_go_text_of_the_map() -> None:
    text = "map[a:[] b:[0 255] c:[104 105]]"  # keys sorted, bytes in decimal, empty as []
    assert (
        data_hash({"c": b"hi", "a": b"", "b": b"\x00\xff"})
        == hashlib.sha3_224(text.encode()).hexdigest()
    )
    assert data_hash({}) == hashlib.sha3_224(b"map[]").hexdigest()


def test_synced_resource_version_is_generation_and_hash_of_annotations_then_labels() -> None:
    text = "{annotations:map[force-sync:1700000000 z:y] labels:map[app:shop]}"
    expected = f"7-{hashlib.sha3_224(text.encode()).hexdigest()}"
    annotations = {"z": "y", "force-sync": "1700000000"}
    assert synced_resource_version(7, {"app": "shop"}, annotations) == expected
    empty = hashlib.sha3_224(b"{annotations:map[] labels:map[]}").hexdigest()
    assert (
        synced_resource_version(1, None, None) == synced_resource_version(1, {}, {}) == f"1-{empty}"
    )


def test_owner_label_hashes_namespace_and_name() -> None:
    assert owner_label("default", "test-es") == hashlib.sha3_224(b"default/test-es").hexdigest()
    assert len(owner_label("a" * 63, "b" * 253)) == 56  # always a valid label value


def test_field_manager_as_eso_names_it() -> None:
    assert field_manager("db") == "externalsecrets.external-secrets.io/db"
    long_name = "x" * 40
    assert field_manager(long_name) == (
        "externalsecrets.external-secrets.io/sha3/"
        + hashlib.sha3_224(long_name.encode()).hexdigest()
    )
    assert len(field_manager("y" * 27)) == 63  # the longest kept as is


def test_managed_marks_are_esos_names() -> None:
    assert LABEL_MANAGED == "reconcile.external-secrets.io/managed"
    assert ANNOTATION_DATA_HASH == "reconcile.external-secrets.io/data-hash"
    assert LABEL_OWNER == "reconcile.external-secrets.io/created-by"


CHANGED = synced_resource_version(3, {"app": "shop"}, {"a": "1"})
P, OC, C = RefreshPolicy.PERIODIC, RefreshPolicy.ON_CHANGE, RefreshPolicy.CREATED_ONCE
R = RefreshReason
ZERO = timedelta(0)

# (policy, interval, refreshTime, syncedResourceVersion) -> (refresh?, reason)
MATRIX: list[tuple[str, RefreshPolicy, timedelta, datetime | None, str, bool, RefreshReason]] = [
    ("periodic never synced", P, HOUR, None, "", True, R.NEVER_SYNCED),
    ("periodic no refreshTime", P, HOUR, None, CURRENT, True, R.NEVER_SYNCED),
    ("periodic not due", P, HOUR, NOW - timedelta(minutes=59), CURRENT, False, R.NOT_DUE),
    ("periodic exactly due is not yet", P, HOUR, NOW - HOUR, CURRENT, False, R.NOT_DUE),
    (
        "periodic elapsed",
        P,
        HOUR,
        NOW - HOUR - timedelta(seconds=1),
        CURRENT,
        True,
        R.INTERVAL_ELAPSED,
    ),
    ("periodic spec changed", P, HOUR, NOW - timedelta(minutes=1), CHANGED, True, R.CHANGED),
    (
        "periodic clock went back",
        P,
        HOUR,
        NOW + timedelta(minutes=5),
        CURRENT,
        True,
        R.REFRESH_TIME_IN_FUTURE,
    ),
    ("interval 0 first sync", P, ZERO, None, "", True, R.NEVER_SYNCED),
    ("interval 0 synced", P, ZERO, NOW - 1000 * HOUR, CURRENT, False, R.SYNCED_ONCE),
    # ESO: with interval 0 even a spec change does not sync again once synced
    ("interval 0 changed", P, ZERO, NOW - HOUR, CHANGED, False, R.SYNCED_ONCE),
    ("onchange never synced", OC, HOUR, None, "", True, R.NEVER_SYNCED),
    ("onchange no refreshTime", OC, HOUR, None, CURRENT, True, R.NEVER_SYNCED),
    ("onchange unchanged long ago", OC, HOUR, NOW - 1000 * HOUR, CURRENT, False, R.UNCHANGED),
    ("onchange changed", OC, HOUR, NOW - timedelta(seconds=1), CHANGED, True, R.CHANGED),
    ("onchange ignores the interval", OC, ZERO, NOW - HOUR, CURRENT, False, R.UNCHANGED),
    ("createdonce never synced", C, HOUR, None, "", True, R.NEVER_SYNCED),
    ("createdonce synced", C, HOUR, NOW - 1000 * HOUR, CURRENT, False, R.SYNCED_ONCE),
    ("createdonce even when changed", C, HOUR, NOW - HOUR, CHANGED, False, R.SYNCED_ONCE),
]


@pytest.mark.parametrize(
    ("policy", "interval", "refreshed", "version", "refresh", "reason"),
    [case[1:] for case in MATRIX],
    ids=[case[0] for case in MATRIX],
)
def test_refresh_matrix(
    policy: RefreshPolicy,
    interval: timedelta,
    refreshed: datetime | None,
    version: str,
    refresh: bool,
    reason: RefreshReason,
) -> None:
    decision = needs_refresh(_spec(policy, interval), SyncStatus(refreshed, version), META, NOW)
    assert decision == Decision(refresh, reason)
    assert bool(decision) is refresh


def test_any_annotation_change_forces_a_periodic_sync() -> None:
    """The documented habit: ``kubectl annotate es db force-sync=$(date +%s) --overwrite``."""
    spec, status = _spec(), _status()
    assert not needs_refresh(spec, status, META, NOW)
    forced = {**META, "annotations": {"a": "1", "external-secrets.io/force-sync": "1764590400"}}
    assert needs_refresh(spec, status, forced, NOW) == Decision(True, R.CHANGED)
    relabelled = {**META, "labels": {"app": "shop", "tier": "web"}}
    assert needs_refresh(spec, status, relabelled, NOW) == Decision(True, R.CHANGED)


def test_status_is_read_from_the_object() -> None:
    status = SyncStatus.from_status(
        {"refreshTime": "2026-12-01T11:50:00Z", "syncedResourceVersion": CURRENT, "conditions": []}
    )
    assert status == SyncStatus(NOW - timedelta(minutes=10), CURRENT)
    assert not needs_refresh(_spec(), status, META, NOW)


@pytest.mark.parametrize(
    "status",
    [
        None,
        {},
        [],
        {"refreshTime": None},
        {"refreshTime": "yesterday"},
        {"refreshTime": "0001-01-01T00:00:00Z"},
    ],
)
def test_an_unreadable_status_counts_as_never_synced(status: object) -> None:
    read = SyncStatus.from_status(status)
    assert read.refresh_time is None
    assert needs_refresh(_spec(), read, META, NOW) == Decision(True, R.NEVER_SYNCED)


def test_next_refresh_is_never_earlier_than_eso_would_refresh() -> None:
    spec, status = _spec(), _status(NOW - timedelta(minutes=10))
    for uid in (f"uid-{n}" for n in range(200)):
        at = next_refresh(spec, status, uid, NOW)
        assert at is not None
        base = NOW - timedelta(minutes=10) + HOUR
        assert base < at < base + min(HOUR / 10, MAX_JITTER)
        assert needs_refresh(spec, status, META, at) == Decision(True, R.INTERVAL_ELAPSED)
    assert not needs_refresh(spec, status, META, base)  # ESO: exactly the interval is not yet


def test_next_refresh_is_fixed_by_the_uid_and_spreads_objects() -> None:
    spec, status = _spec(), _status()
    first = next_refresh(spec, status, "uid-a", NOW)
    assert first == next_refresh(spec, status, "uid-a", NOW + timedelta(seconds=5))
    times = {next_refresh(spec, status, f"uid-{n}", NOW) for n in range(100)}
    assert len(times) == 100  # objects synced together do not come back together


def test_jitter_is_capped() -> None:
    spec, status = _spec(interval=timedelta(hours=24)), _status()
    assert status.refresh_time is not None
    due = status.refresh_time + timedelta(hours=24)
    for n in range(100):
        at = next_refresh(spec, status, f"uid-{n}", NOW)
        assert at is not None
        assert due <= at < due + MAX_JITTER


def test_overdue_refreshes_after_a_restart_are_spread() -> None:
    """A controller down for a day must not fetch every ExternalSecret in its first second."""
    spec, status = _spec(), _status(NOW - timedelta(hours=24))
    times = sorted(t for n in range(1000) if (t := next_refresh(spec, status, f"uid-{n}", NOW)))
    assert len(times) == 1000
    assert times[0] >= NOW
    assert times[-1] < NOW + STARTUP_SPREAD
    per_second: dict[int, int] = {}
    for at in times:
        second = int((at - NOW).total_seconds())
        per_second[second] = per_second.get(second, 0) + 1
    assert len(per_second) == 60
    assert max(per_second.values()) < 1000 / 60 * 2  # about even; no second takes a burst
    short = next_refresh(_spec(interval=timedelta(seconds=10)), status, "uid-1", NOW)
    assert short is not None
    assert short < NOW + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (_spec(OC), _status(), None),
        (_spec(C), _status(), None),
        (_spec(P, ZERO), _status(), None),
        (_spec(P), SyncStatus(), NOW),  # never synced: now
        (_spec(P), _status(NOW + HOUR), NOW),  # refreshTime in the future: now
    ],
)
def test_next_refresh_when_no_schedule_applies(
    spec: ExternalSecretSpec, status: SyncStatus, expected: datetime | None
) -> None:
    assert next_refresh(spec, status, "uid", NOW) == expected
