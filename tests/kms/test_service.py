"""PluginService rules without a transport: Status modes, routing, limits, health marking, and how
backends are awaited (in place, or on threads of their own through ThreadedBackend)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pytest

from sealbox.errors import BackendRejected, BackendUnavailable, PluginUnhealthy
from sealbox.kms import PluginStatus, Wrapped
from sealbox.kms.backends import ThreadedBackend
from sealbox.kms.plugin import InvalidRequest, PluginService


@dataclass
class BlockingMemoryBackend:
    """An in-memory backend (XOR is enough here: the service never looks inside), synchronous.

    ``calls`` records each method called and the thread it ran on.
    """

    kind: str = "memory"
    key_id: str = "memory:1"
    down: bool = False
    reject_wrap: bool = False
    ciphertext_size: int | None = None
    annotations: dict[str, bytes] = field(default_factory=dict)
    unwrapped: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"memory {self.key_id}"

    def _check(self, method: str) -> None:
        self.calls.append((method, threading.current_thread().name))
        if self.down:
            raise BackendUnavailable(f"{self.label} is down")

    def current_key_id(self) -> str:
        self._check("current_key_id")
        return self.key_id

    def wrap(self, plaintext: bytes) -> Wrapped:
        self._check("wrap")
        if self.reject_wrap:
            raise BackendRejected("key disabled")
        body = bytes(b ^ 0x5A for b in plaintext)
        if self.ciphertext_size is not None:
            body = b"x" * self.ciphertext_size
        return Wrapped(body, self.key_id, dict(self.annotations))

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
        self._check("unwrap")
        if key_id != self.key_id:
            raise BackendRejected("not my key")
        self.unwrapped += 1
        return bytes(b ^ 0x5A for b in ciphertext)

    def owns(self, key_id: str) -> bool:
        return key_id.startswith("memory:")

    def close(self) -> None:
        pass


class MemoryBackend(BlockingMemoryBackend):
    """The same, natively async: what the service awaits in place."""

    async def current_key_id(self) -> str:  # type: ignore[override]
        return super().current_key_id()

    async def wrap(self, plaintext: bytes) -> Wrapped:  # type: ignore[override]
        return super().wrap(plaintext)

    async def unwrap(  # type: ignore[override]
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        return super().unwrap(ciphertext, key_id, annotations)


async def _status_through_an_outage(
    mode: Literal["error", "healthz"],
) -> tuple[PluginStatus, PluginStatus | PluginUnhealthy, PluginStatus]:
    backend = MemoryBackend()
    service = PluginService(backend, status_on_failure=mode)
    await service.start()
    ok = await service.status()
    backend.down = True
    await service.health.probe()
    failed: PluginStatus | PluginUnhealthy
    try:
        failed = await service.status()
    except PluginUnhealthy as exc:
        failed = exc
    backend.down = False
    await service.health.probe()
    recovered = await service.status()
    await service.close()
    return ok, failed, recovered


def test_status_error_mode_fails_the_call() -> None:
    ok, failed, recovered = asyncio.run(_status_through_an_outage("error"))
    assert (ok.healthz, ok.key_id, ok.version) == ("ok", "memory:1", "v2")
    assert isinstance(failed, PluginUnhealthy)
    assert "is down" in str(failed)
    assert recovered.healthz == "ok"


def test_status_healthz_mode_reports_the_reason_with_the_last_key_id() -> None:
    ok, failed, recovered = asyncio.run(_status_through_an_outage("healthz"))
    assert ok.healthz == "ok"
    assert isinstance(failed, PluginStatus)
    assert failed.healthz.startswith("memory memory:1 is down")
    assert failed.key_id == "memory:1"
    assert recovered.healthz == "ok"


def test_a_failing_real_call_marks_unhealthy_at_once() -> None:
    async def scenario() -> None:
        backend = MemoryBackend()
        service = PluginService(backend)
        await service.start()
        wrapped = await service.encrypt(b"k" * 32, "u")
        backend.down = True
        with pytest.raises(BackendUnavailable):
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        assert service.health.snapshot.healthy is False
        await service.close()

    asyncio.run(scenario())


def test_decrypt_routes_by_key_id_to_decrypt_only_backends() -> None:
    async def scenario() -> None:
        old = MemoryBackend(key_id="memory:old")
        new = MemoryBackend(key_id="memory:new")
        other = MemoryBackend(kind="other", key_id="other:1")
        service = PluginService(new, [other, old])
        await service.start()
        wrapped = await old.wrap(b"s" * 32)
        probes = new.unwrapped  # the start-up health probe round-trips through the primary
        assert await service.decrypt(wrapped.ciphertext, "memory:old", {}, "u") == b"s" * 32
        assert (new.unwrapped, old.unwrapped, other.unwrapped) == (probes, 1, 0)
        with pytest.raises(InvalidRequest, match="no configured backend holds"):
            await service.decrypt(b"x", "vault:k", {}, "u")
        with pytest.raises(BackendRejected):
            await service.decrypt(b"x", "memory:gone", {}, "u")
        await service.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (MemoryBackend(ciphertext_size=1025), "ciphertext of 1025 bytes"),
        (MemoryBackend(key_id="memory:" + "k" * 1024), "keyID is 1031 bytes"),
        (MemoryBackend(annotations={"Bad_Key": b"1"}), "fully qualified"),
    ],
    ids=["big-ciphertext", "long-key-id", "bad-annotation"],
)
def test_backend_output_the_apiserver_would_reject_is_refused(
    backend: MemoryBackend, message: str
) -> None:
    async def scenario() -> None:
        service = PluginService(backend)
        with pytest.raises(Exception, match=message):
            await service.encrypt(b"k" * 32, "u")
        await service.close()

    asyncio.run(scenario())


def test_v1_ciphertext_carries_the_key_id() -> None:
    async def scenario() -> None:
        service = PluginService(MemoryBackend())
        await service.start()
        cipher = await service.encrypt_v1(b"d" * 32)
        assert await service.decrypt_v1(cipher) == b"d" * 32
        for broken in (b"", b"\x02abc", cipher[:4]):
            with pytest.raises(InvalidRequest):
                await service.decrypt_v1(broken)
        await service.close()

    asyncio.run(scenario())


def test_blocking_backends_run_off_the_event_loop() -> None:
    backend = BlockingMemoryBackend()

    async def scenario() -> None:
        service = PluginService(ThreadedBackend(backend, threads=1))
        await service.start()
        wrapped = await service.encrypt(os.urandom(32), "u")
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        await service.close()

    asyncio.run(scenario())
    assert [method for method, _ in backend.calls][:3] == ["current_key_id", "wrap", "unwrap"]
    assert all(thread.startswith("kms-memory") for _, thread in backend.calls)


def test_threaded_backend_stops_its_threads_and_closes_the_backend() -> None:
    closed: list[bool] = []

    class Closing(BlockingMemoryBackend):
        def close(self) -> None:
            closed.append(True)

    async def scenario() -> None:
        threaded = ThreadedBackend(Closing(), threads=2)
        assert await threaded.current_key_id() == "memory:1"
        assert (threaded.kind, threaded.label) == ("memory", "memory memory:1")
        threaded.close()
        with pytest.raises(RuntimeError):  # no new calls once closed
            await threaded.current_key_id()

    asyncio.run(scenario())
    assert closed == [True]


def test_async_backends_are_awaited_on_the_loop_not_threaded() -> None:
    backend = MemoryBackend()

    async def scenario() -> None:
        service = PluginService(backend)
        await service.start()
        wrapped = await service.encrypt(b"a" * 32, "u")
        assert await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u") == b"a" * 32
        backend.down = True
        with pytest.raises(BackendUnavailable):
            await service.decrypt(wrapped.ciphertext, wrapped.key_id, {}, "u")
        assert service.health.snapshot.healthy is False
        await service.close()

    asyncio.run(scenario())
    methods = [method for method, _ in backend.calls]
    assert methods[:3] == ["current_key_id", "wrap", "unwrap"]  # the start-up probe
    assert "wrap" in methods[3:]
    assert {thread for _, thread in backend.calls} == {threading.main_thread().name}
