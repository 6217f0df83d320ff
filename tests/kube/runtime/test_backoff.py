"""Per-key retry delays grow exponentially, stay under the cap, and spread by jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.kube.runtime import Backoff


def test_delays_double_from_the_base_until_the_cap_without_jitter() -> None:
    backoff = Backoff(base_seconds=0.1, max_seconds=1.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


@given(
    failures=st.integers(min_value=-5, max_value=10_000),
    rand=st.floats(min_value=0.0, max_value=0.999999),
)
def test_a_delay_is_within_jitter_of_the_exponential_and_never_above_the_cap(
    failures: int, rand: float
) -> None:
    backoff = Backoff(base_seconds=0.05, max_seconds=300.0, jitter=0.2)
    nominal = min(300.0, 0.05 * 2.0 ** min(max(failures, 1) - 1, 64))
    delay = backoff.delay(failures, lambda: rand)
    assert nominal * 0.8 - 1e-9 <= delay <= min(300.0, nominal * 1.2) + 1e-9


def test_jitter_spreads_keys_that_failed_together() -> None:
    backoff = Backoff(base_seconds=1.0, jitter=0.2)
    assert (
        backoff.delay(3, lambda: 0.0)
        < backoff.delay(3, lambda: 0.5)
        < backoff.delay(3, lambda: 0.99)
    )


@pytest.mark.parametrize(
    "kwargs", [{"base_seconds": 0.0}, {"base_seconds": 2.0, "max_seconds": 1.0}, {"jitter": 1.0}]
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Backoff"):
        Backoff(**kwargs)
