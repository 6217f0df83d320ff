"""The provider call budget: token buckets that wait by sleeping exactly the deficit, in order."""

from __future__ import annotations

import asyncio
import time

import pytest

from sealbox.controllers.sync.budget import CallBudget, TokenBucket


class FakeTime:
    """A clock and a sleep that advances it: no real time passes, every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)  # let the others queue up meanwhile


def test_bucket_starts_full_refills_at_rate_and_caps_at_burst() -> None:
    fake = FakeTime()
    bucket = TokenBucket(2.0, 3, clock=fake.clock, sleep=fake.sleep)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    fake.now += 0.5  # one token back at 2 per second
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    fake.now += 60  # long idle: never more than the burst
    assert bucket.available() == pytest.approx(3.0)
    assert sum(bucket.try_acquire() for _ in range(5)) == 3


def test_acquire_within_the_burst_never_sleeps() -> None:
    fake = FakeTime()
    bucket = TokenBucket(1.0, 5, clock=fake.clock, sleep=fake.sleep)

    async def main() -> None:
        for _ in range(5):
            await bucket.acquire()

    asyncio.run(main())
    assert fake.sleeps == []


def test_waiters_sleep_once_each_for_their_place_in_line() -> None:
    """Ten callers beyond an empty bucket at 4/s: each sleeps once, 0.25 s more than the one
    before (arrival order, no polling loop)."""
    fake = FakeTime()
    bucket = TokenBucket(4.0, 2, clock=fake.clock, sleep=fake.sleep)
    order: list[int] = []

    async def caller(index: int) -> None:
        await bucket.acquire()
        order.append(index)

    async def main() -> None:
        await asyncio.gather(*(caller(i) for i in range(12)))

    asyncio.run(main())
    assert len(fake.sleeps) == 10
    assert fake.sleeps == pytest.approx([0.25 * n for n in range(1, 11)])
    assert order == list(range(12))


def test_a_cancelled_waiter_gives_its_token_back() -> None:
    fake = FakeTime()
    bucket = TokenBucket(1.0, 1, clock=fake.clock, sleep=asyncio.sleep)

    async def main() -> None:
        await bucket.acquire()  # the burst
        waiter = asyncio.create_task(bucket.acquire())
        await asyncio.sleep(0)
        assert bucket.available() == pytest.approx(-1.0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert bucket.available() == pytest.approx(0.0)

    asyncio.run(main())


def test_rate_zero_is_unlimited_and_bad_settings_are_refused() -> None:
    fake = FakeTime()
    bucket = TokenBucket(0, 0, clock=fake.clock, sleep=fake.sleep)

    async def main() -> None:
        for _ in range(1000):
            await bucket.acquire()

    asyncio.run(main())
    assert fake.sleeps == []
    assert bucket.try_acquire()
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1.0, 0)
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(-1.0, 1)
    with pytest.raises(ValueError, match="burst"):
        CallBudget(store_rate=1.0, store_burst=0, total_rate=0, total_burst=0)


def test_call_budget_takes_the_store_bucket_then_the_shared_one() -> None:
    fake = FakeTime()
    budget = CallBudget(
        store_rate=1.0,
        store_burst=2,
        total_rate=10.0,
        total_burst=3,
        clock=fake.clock,
        sleep=fake.sleep,
    )

    async def main() -> None:
        await budget.acquire("SecretStore/a/one")
        await budget.acquire("SecretStore/a/one")
        assert not budget.bucket("SecretStore/a/one").try_acquire()
        # Another store has its own bucket, but the shared one has a single token left.
        await budget.acquire("SecretStore/b/two")
        assert fake.sleeps == []
        await budget.acquire("SecretStore/b/two")
        assert fake.sleeps == pytest.approx([0.1])  # the shared bucket's deficit at 10/s

    asyncio.run(main())
    budget.forget("SecretStore/a/one")
    assert budget.bucket("SecretStore/a/one").available() == pytest.approx(2.0)


def test_a_burst_beyond_the_budget_is_spread_in_real_time() -> None:
    """30 calls at a 20/s budget with a burst of 10: the first 10 at once, the last one about a
    second later, and no call ever ahead of the budget."""
    budget = CallBudget(store_rate=20.0, store_burst=10, total_rate=0, total_burst=0)
    times: list[float] = []

    async def call() -> None:
        await budget.acquire("SecretStore/ns/vault")
        times.append(time.monotonic())

    async def main() -> float:
        start = time.monotonic()
        await asyncio.gather(*(call() for _ in range(30)))
        return start

    start = asyncio.run(main())
    elapsed = sorted(t - start for t in times)
    assert elapsed[9] < 0.2  # the burst goes out at once
    assert elapsed[-1] >= 0.95  # the 20 others wait for tokens: 20 at 20/s is a second
    for index, at in enumerate(elapsed):
        allowed = 10 + 20.0 * at + 1  # tokens available by then (one of rounding slack)
        assert index + 1 <= allowed
