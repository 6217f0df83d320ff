"""Every real backend through the real plugin process: SoftHSM2, OpenBao and moto.

The same scenarios run for each (see :class:`~tests.integration.harness.BackendHarness`):
round trip, rotation, backend outage and recovery, malformed requests and concurrent load.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from sealbox._proto import kmsv2_api_pb2
from tests.integration.harness import BackendHarness
from tests.integration.plugin_process import (
    RunningPlugin,
    metrics_address,
    run_plugin,
    write_plugin_config,
)
from tests.integration.processes import wait_until
from tests.kms_fixtures import socket_dir

pytestmark = pytest.mark.integration
PROBE_SECONDS = 0.5
BACKENDS = ["pkcs11_harness", "vault_harness", "awskms_harness"]


@pytest.fixture(params=BACKENDS, ids=lambda name: name.removesuffix("_harness"))
def harness(request: pytest.FixtureRequest) -> BackendHarness:
    value = request.getfixturevalue(request.param)
    assert isinstance(value, BackendHarness)
    return value


@pytest.fixture
def plugin(harness: BackendHarness) -> Iterator[RunningPlugin]:
    with socket_dir() as workdir:
        address, port = metrics_address()
        config = write_plugin_config(
            workdir,
            str(workdir / "kms.sock"),
            harness.config,
            healthProbeInterval=f"{int(PROBE_SECONDS * 1000)}ms",
            metricsAddress=address,
        )
        with run_plugin(config, metrics_port=port, env=harness.env) as running:
            yield running


def _status_code(plugin: RunningPlugin) -> grpc.StatusCode:
    try:
        plugin.status(timeout=2)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _http_code(plugin: RunningPlugin, path: str) -> int:
    url = f"http://127.0.0.1:{plugin.metrics_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_round_trip(harness: BackendHarness, plugin: RunningPlugin) -> None:
    status = plugin.status()
    assert (status.version, status.healthz) == ("v2", "ok")
    assert status.key_id.startswith(harness.kind + ":")
    assert plugin.status().key_id == status.key_id
    seed = os.urandom(32)
    response = plugin.encrypt(seed)
    assert response.key_id == status.key_id
    assert 0 < len(response.ciphertext) <= 1024
    assert plugin.decrypt(response).plaintext == seed


def test_rotation(harness: BackendHarness, plugin: RunningPlugin) -> None:
    before = plugin.status().key_id
    old = plugin.encrypt(b"\x01" * 32)
    harness.rotate()
    wait_until(lambda: plugin.status().key_id != before, timeout=10, what="rotated key_id")
    after = plugin.status().key_id
    fresh = plugin.encrypt(b"\x02" * 32)
    assert fresh.key_id == after
    assert plugin.decrypt(old).plaintext == b"\x01" * 32
    assert plugin.decrypt(fresh).plaintext == b"\x02" * 32


def test_outage_and_recovery(harness: BackendHarness, plugin: RunningPlugin) -> None:
    if harness.stop is None or harness.start is None:
        pytest.skip(harness.no_outage)
    wrapped = plugin.encrypt(b"\x03" * 32)
    harness.stop()
    try:
        stopped_at = time.monotonic()
        wait_until(
            lambda: _status_code(plugin) == grpc.StatusCode.UNAVAILABLE,
            timeout=PROBE_SECONDS + 15,
            what="Status reporting the outage",
        )
        # One probe interval, plus the time the probe itself takes to give up on the backend.
        assert time.monotonic() - stopped_at < PROBE_SECONDS + 12
        with pytest.raises(grpc.RpcError) as caught:
            plugin.decrypt(wrapped)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _http_code(plugin, "/readyz") == 503
        assert _http_code(plugin, "/livez") == 200
    finally:
        harness.start()
    wait_until(lambda: plugin.status().healthz == "ok", timeout=20, what="recovery")
    assert plugin.decrypt(wrapped).plaintext == b"\x03" * 32
    assert _http_code(plugin, "/readyz") == 200


def test_malformed_requests(plugin: RunningPlugin) -> None:
    key_id = plugin.status().key_id
    for ciphertext in (b"\x00", b"\xff" * 64, plugin.encrypt(b"\x04" * 32).ciphertext[:-1]):
        request = kmsv2_api_pb2.DecryptRequest(ciphertext=ciphertext, uid="u", key_id=key_id)
        with pytest.raises(grpc.RpcError) as caught:
            plugin.stub.Decrypt(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert plugin.status().healthz == "ok"


def test_concurrent_load(plugin: RunningPlugin) -> None:
    def one(i: int) -> bool:
        seed = i.to_bytes(4, "big") * 8
        return plugin.decrypt(plugin.encrypt(seed, uid=f"u{i}")).plaintext == seed

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert all(pool.map(one, range(200)))


def test_no_secret_in_the_plugin_log(harness: BackendHarness, plugin: RunningPlugin) -> None:
    seed = os.urandom(32)
    plugin.decrypt(plugin.encrypt(seed))
    log = Path(plugin.process.log_path).read_text()
    assert seed.hex() not in log
    for value in harness.env.values():
        if len(value) >= 8 and not value.startswith("/") and value not in ("us-east-1",):
            assert value not in log
