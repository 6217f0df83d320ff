"""What the plugin logs: refused calls (without flooding, without data) and its key_id, hashed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from sealbox.errors import BackendRejected, BackendUnavailable
from sealbox.kms import key_id_hash
from sealbox.kms.plugin import InvalidRequest, PluginService, RefusalLog
from tests.kms.test_service import MemoryBackend

SEED = b"k" * 32


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "sealbox.kms.service" and "refused" in r.msg]


def test_repeated_refusals_log_one_line_per_interval_with_a_count() -> None:
    logger = logging.getLogger("test.refusals")
    clock = _Clock()
    refusals = RefusalLog(logger, interval=10.0, burst=5, clock=clock)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        for _ in range(1000):
            refusals.refused("Decrypt", "local keyring k.key", "ciphertext does not unwrap")
        assert len(records) == 1
        assert records[0].levelno == logging.WARNING
        assert vars(records[0])["suppressed"] == 0
        clock.now += 10
        refusals.refused("Decrypt", "local keyring k.key", "ciphertext does not unwrap")
        assert len(records) == 2
        assert vars(records[1])["suppressed"] == 999  # the identical ones held back
        for i in range(100):  # reasons that keep changing are capped too
            refusals.refused("Decrypt", "none", f"no configured backend holds key_id 'x{i}'")
        assert len(records) == 2 + 4  # burst 5 per interval, one already used
        clock.now += 10
        refusals.refused("Encrypt", "vault", "key disabled")
        assert vars(records[-1])["dropped"] == 96
    finally:
        logger.removeHandler(handler)


def test_a_rejected_decrypt_is_a_warning_naming_operation_backend_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        backend = MemoryBackend()
        service = PluginService(backend)
        tampered = bytes(range(40))
        for _ in range(300):
            with pytest.raises(BackendRejected):
                await service.decrypt(tampered, "memory:other", {}, "u")
        for _ in range(300):
            with pytest.raises(InvalidRequest):
                await service.decrypt(b"", "memory:1", {}, "u")
        await service.close()

    with caplog.at_level(logging.WARNING, logger="sealbox.kms"):
        asyncio.run(scenario())
    lines = _refusals(caplog)
    assert len(lines) == 2  # 600 refusals, two reasons: two lines
    rejected, invalid = (vars(record) for record in lines)
    assert (rejected["operation"], rejected["backend"]) == ("Decrypt", "memory memory:1")
    assert rejected["reason"] == "not my key"
    assert (invalid["backend"], invalid["reason"]) == ("none", "ciphertext is empty")
    text = caplog.text
    assert bytes(range(40)).hex() not in text


class Labelled(MemoryBackend):
    @property
    def label(self) -> str:  # MemoryBackend's label shows its key_id
        return "memory backend"


def test_the_key_id_is_logged_as_its_hash_at_start_and_when_it_changes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = Labelled(key_id="memory:first")

    async def scenario() -> None:
        service = PluginService(backend)
        await service.start()
        await service.health.probe()  # unchanged: nothing logged
        backend.key_id = "memory:second"
        await service.health.probe()
        await service.close()

    with caplog.at_level(logging.INFO, logger="sealbox.kms.health"):
        asyncio.run(scenario())
    records = [vars(r) for r in caplog.records if "key_id" in r.getMessage()]
    assert [r["msg"] for r in records] == ["primary key_id", "primary key_id changed"]
    assert records[0]["key_id_hash"] == key_id_hash("memory:first")
    assert records[1]["key_id_hash"] == key_id_hash("memory:second")
    assert records[1]["previous_key_id_hash"] == key_id_hash("memory:first")
    everything = caplog.text + repr([vars(r) for r in caplog.records])
    assert "memory:first" not in everything
    assert "memory:second" not in everything


def test_an_outage_is_one_warning_not_one_per_failed_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(MemoryBackend):
        failures = 0

        async def unwrap(  # type: ignore[override]
            self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
        ) -> bytes:
            Flaky.failures += 1
            raise BackendUnavailable(f"memory: timed out after {Flaky.failures} ms")

    async def scenario() -> None:
        backend = Flaky()
        service = PluginService(backend)
        service.health.breaker.hold = 0.0  # every call reaches the backend and fails
        for _ in range(200):
            with pytest.raises(BackendUnavailable):
                await service.decrypt(b"x" * 40, "memory:1", {}, "u")
        await service.close()

    with caplog.at_level(logging.WARNING, logger="sealbox.kms"):
        asyncio.run(scenario())
    warnings = [r for r in caplog.records if r.getMessage() == "primary backend unhealthy"]
    assert len(warnings) == 1  # 200 failures, each with another reason, within 10 s
