"""How old a shared remote check each kind of sync may reuse (``schedule.fresh_after``)."""

from __future__ import annotations

import datetime

from sealbox.controllers.sync.schedule import FORCED_FRESHNESS, fresh_after, phase_seed
from sealbox.sync import (
    ExternalSecretSpec,
    RefreshReason,
    SyncStatus,
    next_refresh,
    parse_external_secret,
)

NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.UTC)
TERM = NOW - datetime.timedelta(minutes=30)


def _after(interval: str, reason: RefreshReason, created: str | None = None) -> datetime.datetime:
    spec = parse_external_secret(
        {
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {
                "refreshInterval": interval,
                "secretStoreRef": {"name": "bao"},
                "data": [{"secretKey": "p", "remoteRef": {"key": "db"}}],
            },
        }
    )
    metadata = {"creationTimestamp": created} if created else {}
    return fresh_after(spec, reason, metadata, now=NOW, term_started=TERM)


def test_a_periodic_refresh_reuses_any_check_of_its_last_interval() -> None:
    assert _after("1h", RefreshReason.INTERVAL_ELAPSED) == NOW - datetime.timedelta(hours=1)
    assert _after("20s", RefreshReason.INTERVAL_ELAPSED) == NOW - datetime.timedelta(seconds=20)


def test_an_edit_or_force_sync_wants_the_store_as_it_is_now() -> None:
    assert _after("1h", RefreshReason.CHANGED) == NOW - FORCED_FRESHNESS


def test_a_new_external_secret_wants_a_check_made_since_it_was_created() -> None:
    created = NOW - datetime.timedelta(seconds=5)
    assert _after("1h", RefreshReason.NEVER_SYNCED, "2026-12-02T11:59:55Z") == created
    # One that was there before this term began: any check of this term (within an interval).
    assert _after("1h", RefreshReason.NEVER_SYNCED, "2020-01-01T00:00:00Z") == TERM
    assert _after("10m", RefreshReason.NEVER_SYNCED, "2020-01-01T00:00:00Z") == NOW - (
        datetime.timedelta(minutes=10)
    )


def test_refresh_once_reuses_no_earlier_check() -> None:
    assert _after("0", RefreshReason.NEVER_SYNCED) == NOW - FORCED_FRESHNESS


def _reading(*keys: str, store: str = "bao", name: str = "db") -> ExternalSecretSpec:
    return parse_external_secret(
        {
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "secretStoreRef": {"name": store},
                "data": [
                    {"secretKey": f"k{n}", "remoteRef": {"key": key, "property": f"p{n}"}}
                    for n, key in enumerate(keys)
                ],
            },
        }
    )


def test_external_secrets_reading_the_same_keys_share_their_place_in_the_jitter() -> None:
    # Different names, properties and order: same store and keys, so due at the same moment.
    one = phase_seed(_reading("db", "cache", name="a"), "shop")
    two = phase_seed(_reading("cache", "db", name="b"), "shop")
    assert one == two
    assert phase_seed(_reading("db", "other"), "shop") != one
    assert phase_seed(_reading("db", "cache", store="vault"), "shop") != one
    assert phase_seed(_reading("db", "cache"), "billing") != one  # a SecretStore per namespace
    status = SyncStatus(NOW - datetime.timedelta(seconds=30), "x")
    due = {
        next_refresh(_reading("db", "cache", name=f"es-{n}"), status, one, NOW) for n in range(10)
    }
    assert len(due) == 1
