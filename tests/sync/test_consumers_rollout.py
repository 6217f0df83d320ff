"""Changed keys with a start-up baseline, the restart debouncer, and the rollout restart patch."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sealbox.sync import (
    DEFAULT_RESTART_WINDOW,
    RESTARTED_AT,
    ChangedKeys,
    ConsumerIndex,
    RestartDebouncer,
    WorkloadRef,
    restart_patch,
)

APP = WorkloadRef("Deployment", "shop", "app")
WORKER = WorkloadRef("StatefulSet", "shop", "worker")


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_three_changes_inside_the_window_are_one_restart() -> None:
    clock = Clock()
    debouncer = RestartDebouncer(clock=clock)
    released: list[WorkloadRef] = []
    for _ in range(3):
        debouncer.request(APP)
        clock.now += 5
        released += debouncer.release()
    assert released == []
    assert debouncer.next_due() == 1000.0 + DEFAULT_RESTART_WINDOW
    clock.now = 1000.0 + DEFAULT_RESTART_WINDOW
    released += debouncer.release()
    clock.now += 100
    released += debouncer.release()
    assert released == [APP]
    assert len(debouncer) == 0
    assert debouncer.next_due() is None


def test_changes_in_two_windows_are_two_restarts() -> None:
    clock = Clock()
    debouncer = RestartDebouncer(10, clock=clock)
    released: list[WorkloadRef] = []
    debouncer.request(APP)
    clock.now += 10
    released += debouncer.release()
    debouncer.request(APP)  # a change after the release waits a window of its own
    clock.now += 9
    assert debouncer.release() == []
    clock.now += 1
    released += debouncer.release()
    assert released == [APP, APP]


def test_workloads_wait_their_own_windows_and_release_together_when_due() -> None:
    clock = Clock()
    debouncer = RestartDebouncer(10, clock=clock)
    debouncer.request(APP)
    clock.now += 4
    debouncer.request(WORKER)
    clock.now += 6
    assert debouncer.release() == [APP]
    clock.now += 4
    assert debouncer.release() == [WORKER]


def test_a_cancelled_request_is_not_released() -> None:
    clock = Clock()
    debouncer = RestartDebouncer(0, clock=clock)
    debouncer.request(APP)
    debouncer.cancel(APP)
    debouncer.cancel(APP)
    assert debouncer.release() == []


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        RestartDebouncer(-1)


def test_values_seen_at_start_are_the_baseline_and_restart_nothing() -> None:
    index = ConsumerIndex()
    index.put(
        {
            "kind": "Deployment",
            "metadata": {
                "name": "app",
                "namespace": "shop",
                "annotations": {"sealbox.io/restart-on-change": "true"},
            },
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "db"}}]}]
                    }
                }
            },
        }
    )
    clock = Clock()
    debouncer = RestartDebouncer(clock=clock)
    versions = ChangedKeys()

    def sync(data: dict[str, bytes]) -> None:
        changed = versions.observe("shop", "db", data)
        for ref in index.restart_needed("shop", "db", changed):
            debouncer.request(ref)

    sync({"pw": b"one", "user": b"u"})  # the controller starts: the first sighting
    sync({"pw": b"one", "user": b"u"})  # the first refresh: nothing changed
    clock.now += 3600
    assert debouncer.release() == []
    sync({"pw": b"two", "user": b"u"})
    clock.now += DEFAULT_RESTART_WINDOW
    assert debouncer.release() == [APP]


def test_changed_keys_names_added_removed_and_changed_keys() -> None:
    versions = ChangedKeys()
    versions.baseline("shop", "db", {"pw": "one", "user": "u", "old": "x"})
    assert ("shop", "db") in versions
    assert versions.observe("shop", "db", {"pw": b"two", "user": b"u", "new": b"n"}) == {
        "pw",
        "old",
        "new",
    }
    assert versions.observe("shop", "db", {"pw": b"two", "user": b"u", "new": b"n"}) == set()
    versions.forget("shop", "db")
    assert versions.observe("shop", "db", {"pw": b"three"}) == set()


def test_changed_keys_holds_no_value() -> None:
    versions = ChangedKeys()
    versions.baseline("shop", "db", {"pw": b"hunter2-value"})
    assert b"hunter2-value" not in repr(vars(versions)).encode()


def test_restart_patch_is_kubectls() -> None:
    now = datetime(2026, 12, 2, 10, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    patch = restart_patch(now)
    assert patch == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-12-02T08:04:05Z"}}}}
    }
    assert RESTARTED_AT == "kubectl.kubernetes.io/restartedAt"
    stamp = patch["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert datetime.fromisoformat(stamp) == now.replace(microsecond=0).astimezone(UTC)


def test_restart_patch_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        restart_patch(datetime(2026, 1, 1))
