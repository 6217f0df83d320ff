"""Status conditions: lastTransitionTime moves only when the status changes."""

from __future__ import annotations

import datetime

from sealbox.kube.runtime import Condition, set_condition

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(minutes=5)


def test_a_new_condition_is_added_with_its_generation_and_time() -> None:
    result = set_condition(
        [], Condition("Ready", "False", "Unsealing", "key missing"), observed_generation=3, now=T0
    )
    assert result == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Unsealing",
            "message": "key missing",
            "observedGeneration": 3,
            "lastTransitionTime": "2026-01-02T03:04:05Z",
        }
    ]


def test_same_status_keeps_the_transition_time_but_updates_the_rest() -> None:
    before = set_condition([], Condition("Ready", "False", "A"), observed_generation=1, now=T0)
    after = set_condition(
        before, Condition("Ready", "False", "B", "m"), observed_generation=2, now=T1
    )
    assert after[0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert (after[0]["reason"], after[0]["message"], after[0]["observedGeneration"]) == (
        "B",
        "m",
        2,
    )


def test_a_status_change_moves_the_transition_time_and_leaves_other_types_alone() -> None:
    start = set_condition([], Condition("Synced", "True", "Ok"), observed_generation=1, now=T0)
    start = set_condition(start, Condition("Ready", "False", "A"), observed_generation=1, now=T0)
    after = set_condition(start, Condition("Ready", "True", "Done"), observed_generation=1, now=T1)
    assert [c["type"] for c in after] == ["Synced", "Ready"]
    assert after[0] == start[0]
    assert after[1]["lastTransitionTime"] == "2026-01-02T03:09:05Z"
    assert start[1]["status"] == "False"  # the input is not modified
