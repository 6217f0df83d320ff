"""PluginService fails safe, transport-free: a refused credential, a hung backend, a dead one.

* A backend refusing the plugin's own credential (AccessDenied) is unavailable, not a bad request:
  counted ``unavailable`` and the primary turns unhealthy.
* A call is given up before the caller's deadline, and the deadline reaches the backend (on its
  thread, for a blocking one), so a hung backend never makes the caller time out first.
* After a backend is found unavailable, calls fail fast instead of queueing on it; one trial at a
  time tests it again; the health probe is never held back.
* Unhealthy Status answers and cancelled calls count as ``unavailable``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from sealbox.errors import AccessDenied, BackendRejected, BackendUnavailable, PluginUnhealthy
from sealbox.kms import Wrapped
from sealbox.kms.backends import ThreadedBackend, call_deadline, time_left
from sealbox.kms.plugin import Breaker, Metrics, PluginService, result_of
from sealbox.kms.plugin.budget import within
from tests.kms.test_service import BlockingMemoryBackend, MemoryBackend

SEED = b"s" * 32


def _count(metrics: Metrics, operation: str, result: str) -> float:
    for family in metrics.registry.collect():
        for sample in family.samples:
            if (
                sample.name == "sealbox_kms_requests_total"
                and sample.labels.get("operation") == operation
                and sample.labels.get("result") == result
            ):
                return sample.value
    return 0.0


@dataclass
class HangingBackend(MemoryBackend):
    """Wraps at once; every unwrap waits until ``release`` is set (a backend that hangs)."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    started: int = 0

    async def unwrap(  # type: ignore[override]
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        self.started += 1
        await self.release.wait()
        return await super().unwrap(ciphertext, key_id, annotations)


@dataclass
class DenyingBackend(MemoryBackend):
    """A backend whose server refuses the plugin's own credential once ``deny`` is set."""

    deny: bool = False

    async def unwrap(  # type: ignore[override]
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        if self.deny:
            raise AccessDenied(f"{self.label}: decrypt refused: permission denied (HTTP 403)")
        return await super().unwrap(ciphertext, key_id, annotations)


def test_a_refused_credential_is_unavailable_and_makes_the_primary_unhealthy() -> None:
    async def scenario() -> None:
        backend = DenyingBackend()
        service = PluginService(backend)
        await service.start()
        wrapped = await service.encrypt(SEED, "u")
        backend.deny = True
        with pytest.raises(BackendUnavailable) as caught:
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        assert isinstance(caught.value, AccessDenied)
        assert _count(service.metrics, "decrypt", "unavailable") == 1
        assert _count(service.metrics, "decrypt", "rejected") == 0
        assert not service.health.snapshot.healthy
        assert "permission denied" in service.health.snapshot.error
        with pytest.raises(PluginUnhealthy):
            await service.status()
        await service.close()

    asyncio.run(scenario())


def test_a_hung_backend_is_given_up_before_the_callers_deadline() -> None:
    async def scenario() -> None:
        backend = HangingBackend()
        service = PluginService(backend)
        wrapped = await backend.wrap(SEED)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="no answer before the caller's deadline"):
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u", timeout=0.5)
        elapsed = time.monotonic() - started
        assert 0.4 < elapsed < 0.5  # the deadline less the margin for the answer to travel
        assert _count(service.metrics, "decrypt", "unavailable") == 1
        assert not service.health.snapshot.healthy
        backend.release.set()
        await service.close()

    asyncio.run(scenario())


def test_a_deadline_too_short_for_anything_fails_alone_without_calling_the_backend() -> None:
    async def scenario() -> None:
        backend = MemoryBackend()
        service = PluginService(backend)
        await service.start()
        wrapped = await backend.wrap(SEED)
        calls = len(backend.calls)
        with pytest.raises(BackendUnavailable, match="no time left"):
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u", timeout=0.0)
        assert len(backend.calls) == calls
        # the caller's haste says nothing about the backend: no outage, no failing fast
        assert service.health.snapshot.healthy
        assert service.health.breaker.closed
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u") == SEED
        await service.close()

    asyncio.run(scenario())


def test_the_deadline_reaches_a_blocking_backend_on_its_thread() -> None:
    seen: list[float | None] = []

    class Recording(BlockingMemoryBackend):
        def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
            seen.append(time_left())
            return super().unwrap(ciphertext, key_id, annotations)

    async def scenario() -> None:
        blocking = Recording()
        service = PluginService(ThreadedBackend(blocking, threads=2))
        wrapped = blocking.wrap(SEED)
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u", timeout=2) == SEED
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u") == SEED
        await service.close()

    asyncio.run(scenario())
    first, second = seen
    assert first is not None
    assert 1.5 < first <= 2.0
    assert second is None  # no deadline: the backend's own timeouts apply


def test_a_call_that_waited_for_a_thread_past_its_deadline_never_reaches_the_backend() -> None:
    gate = threading.Event()

    class Stuck(BlockingMemoryBackend):
        def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
            gate.wait(10)
            return super().unwrap(ciphertext, key_id, annotations)

    blocking = Stuck()
    threaded = ThreadedBackend(blocking, threads=1)

    async def scenario() -> None:
        wrapped = blocking.wrap(SEED)
        first = asyncio.ensure_future(threaded.unwrap(wrapped.ciphertext, wrapped.key_id, {}))
        with call_deadline(time.monotonic() + 0.1):
            queued = asyncio.ensure_future(threaded.current_key_id())  # waits for the thread
        await asyncio.sleep(0.3)
        gate.set()
        assert await first == SEED
        with pytest.raises(BackendUnavailable, match="every thread was busy"):
            await queued
        assert [method for method, _ in blocking.calls] == ["wrap", "unwrap"]  # not current_key_id

    asyncio.run(scenario())
    threaded.close()


def test_calls_fail_fast_after_an_outage_and_one_trial_at_a_time_tests_the_backend() -> None:
    async def scenario() -> None:
        backend = HangingBackend()
        backend.release.set()
        service = PluginService(backend)
        await service.start()
        wrapped = await service.encrypt(SEED, "u")
        backend.down = True
        with pytest.raises(BackendUnavailable, match="is down"):
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        tried = backend.started
        started = time.monotonic()
        for _ in range(50):  # within FAIL_FAST_SECONDS: nothing reaches the backend
            with pytest.raises(BackendUnavailable, match="failing fast"):
                await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        assert time.monotonic() - started < 0.5
        assert backend.started == tried
        assert _count(service.metrics, "decrypt", "unavailable") == 51

        service.health.breaker.hold = 0.0  # the moment has passed: the next call is a trial
        backend.down = False
        backend.release.clear()
        trial = asyncio.ensure_future(service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u"))
        while backend.started == tried:
            await asyncio.sleep(0.001)
        with pytest.raises(BackendUnavailable, match="failing fast"):  # one trial at a time
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        backend.release.set()
        assert await trial == SEED
        assert service.health.breaker.closed
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u") == SEED
        await service.close()

    asyncio.run(scenario())


def test_the_probe_keeps_probing_while_calls_fail_fast() -> None:
    async def scenario() -> None:
        backend = MemoryBackend()
        service = PluginService(backend)
        await service.start()
        wrapped = await service.encrypt(SEED, "u")
        backend.down = True
        await service.health.probe()  # the probe finds it down: calls fail fast
        assert not service.health.breaker.closed
        with pytest.raises(BackendUnavailable, match="failing fast"):
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        backend.down = False
        probes = len(backend.calls)
        await service.health.probe()  # not held back by the breaker
        assert len(backend.calls) > probes
        assert service.health.breaker.closed
        assert service.health.snapshot.healthy
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u") == SEED
        await service.close()

    asyncio.run(scenario())


def test_a_backend_that_refuses_the_request_is_reachable_and_closes_the_breaker() -> None:
    breaker = Breaker("b", hold=0.0)
    breaker.failed(BackendUnavailable("b is down"))
    assert breaker.admit() is True  # the trial
    breaker.answered()
    breaker.trial_over()
    assert breaker.closed
    assert breaker.admit() is False


def test_unhealthy_status_and_cancelled_calls_count_as_unavailable() -> None:
    assert result_of(PluginUnhealthy("down")) == "unavailable"
    assert result_of(asyncio.CancelledError()) == "unavailable"
    assert result_of(AccessDenied("denied")) == "unavailable"

    async def scenario() -> None:
        backend = HangingBackend()
        service = PluginService(backend)
        backend.down = True
        await service.health.probe()
        with pytest.raises(PluginUnhealthy):
            await service.status()
        assert _count(service.metrics, "status", "unavailable") == 1
        assert _count(service.metrics, "status", "error") == 0
        backend.down = False
        service.health.breaker.answered()
        wrapped = Wrapped(bytes(b ^ 0x5A for b in SEED), backend.key_id)
        call = asyncio.ensure_future(service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u"))
        while not backend.started:
            await asyncio.sleep(0.001)
        call.cancel()  # what grpc does when the client goes away or its deadline passes
        with pytest.raises(asyncio.CancelledError):
            await call
        assert _count(service.metrics, "decrypt", "unavailable") == 1
        assert _count(service.metrics, "decrypt", "error") == 0
        backend.release.set()
        await service.close()

    asyncio.run(scenario())


def test_a_call_under_a_deadline_behaves_as_awaiting_it_directly() -> None:
    """``within`` steps a coroutine itself (no timer for one answered in place) and then hands
    the rest to the task: results, errors and cancellations come through unchanged."""
    cleaned: list[str] = []

    async def in_place() -> str:
        return "now"

    async def waits(times: int) -> str:
        for _ in range(times):
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        return f"after {times}"

    async def fails_after_waiting() -> str:
        await asyncio.sleep(0)
        raise BackendRejected("refused after a wait")

    async def hangs() -> str:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("hangs")
        return "never"

    async def scenario() -> None:
        soon = time.monotonic() + 5
        assert await within("b", in_place, soon) == "now"
        assert await within("b", lambda: waits(3), soon) == "after 3"
        with pytest.raises(BackendRejected, match="after a wait"):
            await within("b", fails_after_waiting, soon)
        with pytest.raises(BackendUnavailable, match="b: no answer before the caller's deadline"):
            await within("b", hangs, time.monotonic() + 0.05)
        task = asyncio.ensure_future(within("b", hangs, soon))
        await asyncio.sleep(0.01)
        task.cancel()  # the client went away: a cancellation, not a deadline
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert cleaned == ["hangs", "hangs"]
