"""The plugin process fails safe with real backends (SoftHSM2, OpenBao, moto behind its proxy).

* A backend refusing the plugin's own credential (a revoked Vault token, a PIN the token rejects,
  an AWS key policy denying the plugin) is UNAVAILABLE, never INVALID_ARGUMENT: counted
  ``unavailable``, /readyz 503, /livez 200, and the plugin recovers once the credential works.
* A backend that hangs (a server that accepts connections and never answers, a PKCS#11 worker
  that stops) is answered UNAVAILABLE before kube-apiserver's 3 s deadline, although the default
  backend timeouts (Vault 10 s, AWS 2 s x 2 attempts) are longer; the calls right after fail
  fast instead of queueing behind it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest

from sealbox._proto import kmsv2_api_pb2
from tests.integration.backends.awskms import MotoKMS
from tests.integration.backends.vault import OpenBao
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
SEED = bytes(range(32))
APISERVER_TIMEOUT = 3.0  # kms.timeout's default, the deadline of every call


@contextmanager
def _plugin(harness: BackendHarness, **primary: Any) -> Iterator[RunningPlugin]:
    with socket_dir() as workdir:
        address, port = metrics_address()
        config = write_plugin_config(
            workdir,
            str(workdir / "kms.sock"),
            {**harness.config, **primary},
            healthProbeInterval="500ms",
            metricsAddress=address,
        )
        with run_plugin(config, metrics_port=port, env=harness.env) as running:
            yield running


def _decrypt(
    plugin: RunningPlugin, wrapped: kmsv2_api_pb2.EncryptResponse, timeout: float
) -> tuple[grpc.StatusCode, str, float]:
    request = kmsv2_api_pb2.DecryptRequest(
        ciphertext=wrapped.ciphertext,
        uid="u",
        key_id=wrapped.key_id,
        annotations=dict(wrapped.annotations),
    )
    started = time.monotonic()
    try:
        plugin.stub.Decrypt(request, timeout=timeout)
    except grpc.RpcError as exc:
        code, details = _failure(exc)
        return code, details, time.monotonic() - started
    return grpc.StatusCode.OK, "", time.monotonic() - started


def _failure(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, grpc.Call):
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.UNKNOWN, str(exc)


def _status(plugin: RunningPlugin) -> tuple[grpc.StatusCode, str]:
    try:
        plugin.status(timeout=APISERVER_TIMEOUT)
    except grpc.RpcError as exc:
        return _failure(exc)
    return grpc.StatusCode.OK, ""


def _status_code(plugin: RunningPlugin) -> grpc.StatusCode:
    return _status(plugin)[0]


def _http(plugin: RunningPlugin, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{plugin.metrics_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _requests(plugin: RunningPlugin, operation: str, backend: str, result: str) -> float:
    series = (
        f'sealbox_kms_requests_total{{backend="{backend}",operation="{operation}",'
        f'result="{result}"}} '
    )
    for line in _http(plugin, "/metrics")[1].splitlines():
        if line.startswith(series):
            return float(line[len(series) :])
    return 0.0


def _unready_but_alive(plugin: RunningPlugin) -> None:
    wait_until(lambda: _http(plugin, "/readyz")[0] == 503, timeout=10, what="/readyz 503")
    assert _http(plugin, "/livez") == (200, "ok\n")
    assert _status_code(plugin) == grpc.StatusCode.UNAVAILABLE


def _recovers(plugin: RunningPlugin, wrapped: kmsv2_api_pb2.EncryptResponse) -> None:
    wait_until(lambda: plugin.status().healthz == "ok", timeout=30, what="recovery")
    assert plugin.decrypt(wrapped).plaintext == SEED
    assert _http(plugin, "/readyz")[0] == 200


# --- the plugin's own credential ------------------------------------------------------------


def test_a_revoked_vault_token_is_unavailable(
    openbao: OpenBao, vault_harness: BackendHarness
) -> None:
    token_file = Path(vault_harness.config["auth"]["tokenFile"])
    with _plugin(vault_harness) as plugin:
        wrapped = plugin.encrypt(SEED)
        openbao.admin.write("auth/token/revoke", token=token_file.read_text().strip())
        code, details, _ = _decrypt(plugin, wrapped, APISERVER_TIMEOUT)
        assert code == grpc.StatusCode.UNAVAILABLE, details  # was INVALID_ARGUMENT
        assert "permission denied" in details
        assert _requests(plugin, "decrypt", "vault", "unavailable") >= 1
        assert _requests(plugin, "decrypt", "vault", "rejected") == 0
        _unready_but_alive(plugin)
        key = vault_harness.config["keyName"]
        token_file.write_text(openbao.admin.token(openbao.admin.policy(key)) + "\n")
        _recovers(plugin, wrapped)  # one re-login after a 403 reads the new token


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _worker(plugin: RunningPlugin) -> int:
    assert plugin.process.process is not None
    (worker,) = _children(plugin.process.process.pid)
    return worker


def _kill_worker(plugin: RunningPlugin) -> None:
    """Kill the PKCS#11 worker; the plugin starts a new one, which logs in again."""
    worker = _worker(plugin)
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: _worker(plugin) != worker, timeout=15, what="a new PKCS#11 worker")


def test_a_pin_the_token_rejects_is_unavailable(pkcs11_harness: BackendHarness) -> None:
    pin_file = Path(pkcs11_harness.config["pinFile"])
    pin = pin_file.read_text()
    with _plugin(pkcs11_harness) as plugin:
        wrapped = plugin.encrypt(SEED)
        pin_file.write_text("not-the-pin\n")  # the next login, by a new worker, is refused
        _kill_worker(plugin)
        wait_until(
            lambda: "PIN for token" in _status(plugin)[1], timeout=15, what="the probe's verdict"
        )
        _unready_but_alive(plugin)
        code, details, _ = _decrypt(plugin, wrapped, APISERVER_TIMEOUT)
        assert code == grpc.StatusCode.UNAVAILABLE, details
        assert "PIN for token" in details
        assert "not-the-pin" not in Path(plugin.process.log_path).read_text()
        assert _requests(plugin, "decrypt", "pkcs11", "unavailable") >= 1
        pin_file.write_text(pin)
        _kill_worker(plugin)  # a refused PIN is never tried again: a new worker reads the file
        _recovers(plugin, wrapped)


def test_an_aws_key_policy_denying_the_plugin_is_unavailable(
    moto_kms: MotoKMS, awskms_harness: BackendHarness
) -> None:
    arn = moto_kms.alias_target(awskms_harness.config["keyId"])
    key = arn.rsplit("/", 1)[1]

    def policy(effect: str) -> None:
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": effect, "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}
            ],
        }
        moto_kms.admin.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(document))

    with _plugin(awskms_harness) as plugin:
        wrapped = plugin.encrypt(SEED)
        policy("Deny")
        try:
            _unready_but_alive(plugin)
            code, details = _status(plugin)
            assert code == grpc.StatusCode.UNAVAILABLE
            assert "AccessDeniedException" in details
            assert _requests(plugin, "status", "awskms", "unavailable") >= 1
        finally:
            policy("Allow")
        _recovers(plugin, wrapped)


# --- a backend that hangs -------------------------------------------------------------------


@contextmanager
def _hanging(harness: BackendHarness) -> Iterator[None]:
    """The harness's proxy port accepts connections and never answers (then comes back)."""
    assert harness.stop is not None
    assert harness.start is not None
    url = harness.config.get("address") or harness.config["endpointUrl"]
    port = urlsplit(url).port
    assert port is not None
    harness.stop()  # cuts the plugin's pooled connections
    with socket.create_server(("127.0.0.1", port), backlog=128):  # never accept()ed
        yield
    harness.start()


@pytest.mark.parametrize(
    ("backend", "defaults"),
    [
        ("vault_harness", ("timeoutSeconds",)),  # 10 s per request
        ("awskms_harness", ("timeoutSeconds", "maxAttempts")),  # 2 s x 2 attempts
    ],
    ids=["vault", "awskms"],
)
def test_a_hung_server_is_unavailable_within_the_apiservers_deadline(
    request: pytest.FixtureRequest, backend: str, defaults: tuple[str, ...]
) -> None:
    harness = request.getfixturevalue(backend)
    assert isinstance(harness, BackendHarness)
    for name in defaults:
        del harness.config[name]  # the defaults alone would outlast kube-apiserver's 3 s
    with _plugin(harness) as plugin:
        wrapped = plugin.encrypt(SEED)
        with _hanging(harness):
            _unavailable_in_time_then_fast(plugin, wrapped)
        _recovers(plugin, wrapped)


def test_a_stopped_pkcs11_worker_is_unavailable_within_the_apiservers_deadline(
    pkcs11_harness: BackendHarness,
) -> None:
    with _plugin(pkcs11_harness) as plugin:
        wrapped = plugin.encrypt(SEED)
        worker = _worker(plugin)
        os.kill(worker, signal.SIGSTOP)
        try:
            _unavailable_in_time_then_fast(plugin, wrapped)
        finally:
            os.kill(worker, signal.SIGCONT)
        _recovers(plugin, wrapped)


def _unavailable_in_time_then_fast(
    plugin: RunningPlugin, wrapped: kmsv2_api_pb2.EncryptResponse
) -> None:
    code, details, elapsed = _decrypt(plugin, wrapped, APISERVER_TIMEOUT)
    assert code == grpc.StatusCode.UNAVAILABLE, details  # the plugin's answer, not the deadline
    assert elapsed < APISERVER_TIMEOUT
    code, details, elapsed = _decrypt(plugin, wrapped, APISERVER_TIMEOUT)
    assert code == grpc.StatusCode.UNAVAILABLE, details
    assert "failing fast" in details
    assert elapsed < 0.5
    assert _requests(plugin, "decrypt", _backend_kind(plugin), "unavailable") >= 2
    assert _http(plugin, "/livez") == (200, "ok\n")


def _backend_kind(plugin: RunningPlugin) -> str:
    for line in _http(plugin, "/metrics")[1].splitlines():
        if line.startswith('sealbox_kms_backend_healthy{backend="'):
            return line.split('"')[1]
    raise AssertionError("no sealbox_kms_backend_healthy series")
