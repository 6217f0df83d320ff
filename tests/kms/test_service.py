"""PluginService rules without a transport: Status modes, routing, limits, health marking."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pytest

from sealbox.errors import BackendRejected, BackendUnavailable, PluginUnhealthy
from sealbox.kms import Wrapped
from sealbox.kms.service import InvalidRequest, PluginService, Status


@dataclass
class MemoryBackend:
    """An in-memory backend (XOR is enough here: the service never looks inside)."""

    kind: str = "memory"
    key_id: str = "memory:1"
    down: bool = False
    reject_wrap: bool = False
    ciphertext_size: int | None = None
    annotations: dict[str, bytes] = field(default_factory=dict)
    blocking: bool = False
    threads: int = 1
    unwrapped: int = 0

    @property
    def label(self) -> str:
        return f"memory {self.key_id}"

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable(f"{self.label} is down")

    def current_key_id(self) -> str:
        self._check()
        return self.key_id

    def wrap(self, plaintext: bytes) -> Wrapped:
        self._check()
        if self.reject_wrap:
            raise BackendRejected("key disabled")
        body = bytes(b ^ 0x5A for b in plaintext)
        if self.ciphertext_size is not None:
            body = b"x" * self.ciphertext_size
        return Wrapped(body, self.key_id, dict(self.annotations))

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
        self._check()
        if key_id != self.key_id:
            raise BackendRejected("not my key")
        self.unwrapped += 1
        return bytes(b ^ 0x5A for b in ciphertext)

    def owns(self, key_id: str) -> bool:
        return key_id.startswith("memory:")

    def close(self) -> None:
        pass


async def _status_through_an_outage(
    mode: Literal["error", "healthz"],
) -> tuple[Status, Status | PluginUnhealthy, Status]:
    backend = MemoryBackend()
    service = PluginService(backend, status_on_failure=mode)
    await service.start()
    ok = await service.status()
    backend.down = True
    await service.health.probe()
    failed: Status | PluginUnhealthy
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
    assert isinstance(failed, Status)
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
        wrapped = old.wrap(b"s" * 32)
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
    import threading

    seen: list[str] = []

    class Recording(MemoryBackend):
        def wrap(self, plaintext: bytes) -> Wrapped:
            seen.append(threading.current_thread().name)
            return super().wrap(plaintext)

    async def scenario() -> None:
        service = PluginService(Recording(blocking=True, threads=1))
        await service.encrypt(os.urandom(32), "u")
        await service.close()

    asyncio.run(scenario())
    assert seen[0].startswith("kms-memory")


def test_natively_async_backends_are_awaited_not_threaded() -> None:
    import threading

    from sealbox.kms.backends.base import AsyncBackend

    calls: list[tuple[str, str]] = []

    class Awaited(MemoryBackend):
        async def call(self, method: str, /, *args: object) -> object:
            calls.append((method, threading.current_thread().name))
            await asyncio.sleep(0)
            return getattr(self, method)(*args)

        def wrap(self, plaintext: bytes) -> Wrapped:
            if not calls:
                raise AssertionError("the synchronous method was called directly")
            return super().wrap(plaintext)

    async def scenario() -> None:
        backend = Awaited(blocking=True)  # "blocking" does not matter once it is awaitable
        assert isinstance(backend, AsyncBackend)
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
    methods = [method for method, _ in calls]
    assert methods[:3] == ["current_key_id", "wrap", "unwrap"]  # the start-up probe
    assert "wrap" in methods[3:]
    assert {thread for _, thread in calls} == {threading.main_thread().name}
