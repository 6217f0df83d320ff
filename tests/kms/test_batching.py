"""BatchingRunner: calls run on the one worker thread, in order, and every caller gets its own
result or exception; a burst of calls wakes the thread once."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from sealbox.kms.batching import BatchingRunner


def test_calls_run_in_order_on_the_worker_thread_and_results_reach_their_callers() -> None:
    seen: list[tuple[int, str]] = []

    def work(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        if i == 3:
            raise ValueError("three")
        return i * 10

    async def scenario() -> list[object]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hsm") as pool:
            runner = BatchingRunner(pool)
            return await asyncio.gather(
                *(runner.run(work, i) for i in range(6)), return_exceptions=True
            )

    results = asyncio.run(scenario())
    assert results[:3] == [0, 10, 20]
    assert isinstance(results[3], ValueError)
    assert results[4:] == [40, 50]
    assert [i for i, _ in seen] == list(range(6))
    assert all(name.startswith("hsm") for _, name in seen)


def test_a_burst_wakes_the_thread_once() -> None:
    class CountingPool(ThreadPoolExecutor):
        submitted = 0

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            CountingPool.submitted += 1
            return super().submit(fn, *args, **kwargs)

    async def scenario() -> list[int]:
        with CountingPool(max_workers=1) as pool:
            runner = BatchingRunner(pool)
            return await asyncio.gather(*(runner.run(int, str(i)) for i in range(50)))

    assert asyncio.run(scenario()) == list(range(50))
    assert CountingPool.submitted == 1


def test_a_shut_down_executor_fails_the_calls_instead_of_hanging() -> None:
    async def scenario() -> None:
        pool = ThreadPoolExecutor(max_workers=1)
        pool.shutdown()
        runner = BatchingRunner(pool)
        with pytest.raises(RuntimeError, match="shutdown"):
            await asyncio.wait_for(runner.run(int, "1"), timeout=5)

    asyncio.run(scenario())
