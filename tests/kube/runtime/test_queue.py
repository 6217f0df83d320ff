"""The work queue's guarantees (client-go's workqueue): dedupe, one worker per key, backoff."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from sealbox.kube.runtime import Backoff, WorkQueue

KEYS = st.sampled_from(["ns/a", "ns/b", "ns/c", "other/a"])
OPS = st.lists(st.tuples(st.sampled_from(["add", "get", "done"]), KEYS), max_size=60)


def test_a_key_added_many_times_waits_once() -> None:
    queue = WorkQueue()
    for _ in range(3):
        queue.add("ns/a")
    queue.add("ns/b")
    assert len(queue) == 2
    assert [queue.get_nowait(), queue.get_nowait(), queue.get_nowait()] == ["ns/a", "ns/b", None]


def test_a_key_added_while_held_comes_back_only_after_done() -> None:
    queue = WorkQueue()
    queue.add("ns/a")
    held = queue.get_nowait()
    queue.add("ns/a")
    assert queue.get_nowait() is None  # never to a second worker while the first holds it
    assert held is not None
    queue.done(held)
    assert queue.get_nowait() == "ns/a"


def test_done_without_a_new_add_does_not_requeue() -> None:
    queue = WorkQueue()
    queue.add("ns/a")
    queue.done(queue.get_nowait() or "")
    assert len(queue) == 0


@given(OPS)
def test_no_key_is_ever_held_twice_and_every_add_is_seen_after_it(
    ops: list[tuple[str, str]],
) -> None:
    """A model check: whatever the order of adds, gets and dones, a key is held by at most one
    worker, waits at most once, and a key added after its last get is handed out again."""
    queue = WorkQueue()
    held: set[str] = set()
    owed: set[str] = set()  # added since the last time a worker took it
    for op, key in ops:
        if op == "add":
            queue.add(key)
            owed.add(key)
        elif op == "get":
            got = queue.get_nowait()
            if got is not None:
                assert got not in held
                held.add(got)
                owed.discard(got)
        elif key in held:
            held.discard(key)
            queue.done(key)
        assert len(queue.waiting) == len(set(queue.waiting))
        assert not set(queue.waiting) & held
        assert queue.processing == frozenset(held)
    for key in list(held):
        queue.done(key)
    handed_out = set()
    while (got := queue.get_nowait()) is not None:
        handed_out.add(got)
        queue.done(got)
    assert owed <= handed_out


def test_failures_back_off_per_key_and_forget_resets_the_count() -> None:
    async def scenario() -> None:
        queue = WorkQueue(backoff=Backoff(base_seconds=0.01, max_seconds=1.0, jitter=0.0))
        first = queue.add_rate_limited("ns/a")
        second = queue.add_rate_limited("ns/a")
        assert (first, second) == (0.01, 0.02)
        assert queue.failures("ns/a") == 2
        assert queue.failures("ns/b") == 0
        assert len(queue) == 0  # not yet: it waits out its delay
        assert await asyncio.wait_for(queue.get(), 5) == "ns/a"
        queue.forget("ns/a")
        assert queue.add_rate_limited("ns/a") == 0.01

    asyncio.run(scenario())


def test_an_earlier_add_after_wins_over_a_later_one() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add_after("ns/a", 3600)
        queue.add_after("ns/a", 0.01)
        assert await asyncio.wait_for(queue.get(), 5) == "ns/a"

    asyncio.run(scenario())


def test_shut_down_stops_handing_out_work_and_drained_waits_for_workers() -> None:
    async def scenario() -> None:
        depths: list[int] = []
        queue = WorkQueue(on_depth=depths.append)
        queue.add("ns/a")
        queue.add("ns/b")
        held = await queue.get()
        waiting = asyncio.create_task(queue.get())
        queue.shut_down()
        assert await waiting is None
        assert await queue.get() is None
        queue.add("ns/c")
        assert len(queue) == 0
        drained = asyncio.create_task(queue.drained())
        await asyncio.sleep(0)
        assert not drained.done()
        assert held is not None
        queue.done(held)
        await asyncio.wait_for(drained, 5)
        assert depths[-1] == 0
        assert max(depths) == 2

    asyncio.run(scenario())
