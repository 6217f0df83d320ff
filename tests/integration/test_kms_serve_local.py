"""``sealbox kms serve`` with the local backend, driven over its real socket by a gRPC client."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from sealbox._proto import kmsv2_api_pb2
from sealbox.encryption.config import parse_config
from sealbox.encryption.model import KMSConfiguration
from sealbox.encryption.transformers import StorageTransformers
from sealbox.kms import key_id_hash
from sealbox.kms.backends import local
from sealbox.kms.client import GrpcConnector, KMSv1Client
from sealbox.storage import codec
from tests.integration.plugin_process import (
    SEALBOX,
    RunningPlugin,
    metrics_address,
    run_plugin,
    write_plugin_config,
)
from tests.integration.processes import wait_until
from tests.kms_fixtures import socket_dir

pytestmark = pytest.mark.integration
PROBE_INTERVAL = "200ms"


@pytest.fixture
def workdir() -> Iterator[Path]:
    with socket_dir() as path:
        yield path


@pytest.fixture
def plugin(workdir: Path) -> Iterator[RunningPlugin]:
    local.create_keyring(workdir / "kek.key")
    address, port = metrics_address()
    config = write_plugin_config(
        workdir,
        str(workdir / "kms.sock"),
        {"type": "local", "keyFile": "kek.key"},
        healthProbeInterval=PROBE_INTERVAL,
        metricsAddress=address,
        v1beta1=True,
    )
    with run_plugin(config, metrics_port=port) as running:
        yield running


def _http(plugin: RunningPlugin, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{plugin.metrics_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_round_trip_and_status(plugin: RunningPlugin) -> None:
    status = plugin.status()
    assert (status.version, status.healthz) == ("v2", "ok")
    assert status.key_id.startswith("local:")
    seed = os.urandom(32)
    response = plugin.encrypt(seed)
    assert response.key_id == status.key_id
    assert 0 < len(response.ciphertext) <= 1024
    assert seed not in response.ciphertext
    assert plugin.decrypt(response).plaintext == seed
    assert stat.S_IMODE(os.stat(plugin.socket).st_mode) == 0o600


def test_rotation_changes_key_id_within_one_probe_and_old_data_decrypts(
    plugin: RunningPlugin, workdir: Path
) -> None:
    before = plugin.status().key_id
    old = plugin.encrypt(b"\x07" * 32)
    result = subprocess.run(
        [*SEALBOX, "kms", "rotate-key", "--key-file", str(workdir / "kek.key")],
        capture_output=True,
        text=True,
        check=True,
    )
    new_key_id = result.stdout.strip()
    assert new_key_id.startswith("local:")
    assert new_key_id != before
    wait_until(lambda: plugin.status().key_id == new_key_id, timeout=3, what="new key_id")
    fresh = plugin.encrypt(b"\x08" * 32)
    assert fresh.key_id == new_key_id
    assert plugin.decrypt(old).plaintext == b"\x07" * 32
    assert plugin.decrypt(fresh).plaintext == b"\x08" * 32


@pytest.mark.parametrize(
    ("ciphertext", "key_id", "detail"),
    [
        (b"", "local:x", "ciphertext is empty"),
        (b"\x01" + b"\x00" * 40, "", "keyID is empty"),
        (b"\x01" + b"\x00" * 40, "k" * 1025, "keyID is 1025 bytes"),
        (b"\x01" + b"\x00" * 40, "vault:somewhere", "no configured backend holds key_id"),
        (b"\x01" + b"\x00" * 40, "local:0000", "no KEK with key_id"),
        (b"garbage", None, "not in the local format"),
        (b"\x01" + b"\x00" * 40, None, "does not unwrap"),
    ],
)
def test_malformed_decrypts_are_invalid_argument(
    plugin: RunningPlugin, ciphertext: bytes, key_id: str | None, detail: str
) -> None:
    request = kmsv2_api_pb2.DecryptRequest(
        ciphertext=ciphertext, uid="u", key_id=plugin.status().key_id if key_id is None else key_id
    )
    with pytest.raises(grpc.RpcError) as caught:
        plugin.stub.Decrypt(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in (caught.value.details() or "")
    assert plugin.status().healthz == "ok"  # nothing crashed, health unaffected


@pytest.mark.parametrize("method", ["Decrypt", "Encrypt", "Status"])
def test_a_request_that_does_not_parse_is_invalid_argument(
    plugin: RunningPlugin, method: str
) -> None:
    """Raw bytes on the channel, as a broken client would send them: grpc alone would answer
    UNKNOWN with a protobuf DecodeError."""
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = plugin.channel.unary_unary(
        f"/v2.KeyManagementService/{method}", request_serializer=None, response_deserializer=None
    )
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\x05ab"):
        with pytest.raises(grpc.RpcError) as caught:
            call(garbage, timeout=5)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"not a valid v2.{method}Request protobuf message" in (caught.value.details() or "")
    body = _http(plugin, "/metrics")[1]
    operation = method.lower()
    assert (
        f'sealbox_kms_requests_total{{backend="none",operation="{operation}",result="invalid"}} 2.0'
        in body
    )
    assert plugin.status().healthz == "ok"


def test_refused_calls_are_logged_without_data_and_without_flooding(
    plugin: RunningPlugin,
) -> None:
    key_id = plugin.status().key_id
    tampered = b"\x01" + bytes(range(60))
    request = kmsv2_api_pb2.DecryptRequest(ciphertext=tampered, uid="u", key_id=key_id)
    for _ in range(300):
        with pytest.raises(grpc.RpcError):
            plugin.stub.Decrypt(request, timeout=5)
    log = Path(plugin.process.log_path).read_text()
    lines = [json.loads(line) for line in log.splitlines() if '"Decrypt refused"' in line]
    assert len(lines) == 1  # 300 identical refusals, one warning
    (line,) = lines
    assert line["level"] == "warning"
    assert line["operation"] == "Decrypt"
    assert line["backend"] == f"local keyring {Path(plugin.socket).parent / 'kek.key'}"
    assert line["reason"] == f"{line['backend']}: ciphertext does not unwrap"
    assert tampered.hex() not in log
    assert tampered[1:].hex() not in log


def test_the_key_id_hash_is_logged_at_start_and_when_it_changes(
    plugin: RunningPlugin, workdir: Path
) -> None:
    first = plugin.status().key_id
    subprocess.run(
        [*SEALBOX, "kms", "rotate-key", "--key-file", str(workdir / "kek.key")],
        capture_output=True,
        check=True,
    )
    wait_until(lambda: plugin.status().key_id != first, timeout=5, what="the new key_id")
    second = plugin.status().key_id
    wait_until(
        lambda: "primary key_id changed" in Path(plugin.process.log_path).read_text(),
        timeout=5,
        what="the log line",
    )
    records = [
        json.loads(line)
        for line in Path(plugin.process.log_path).read_text().splitlines()
        if line.startswith("{")
    ]
    said = [(r["msg"], r.get("key_id_hash")) for r in records if "key_id_hash" in r]
    assert ("primary key_id", key_id_hash(first)) in said
    assert ("serving", key_id_hash(first)) in said
    assert ("primary key_id changed", key_id_hash(second)) in said
    log = Path(plugin.process.log_path).read_text()
    assert first not in log
    assert second not in log


def test_kms_status_checks_the_running_plugin(plugin: RunningPlugin) -> None:
    result = subprocess.run(
        [*SEALBOX, "kms", "status", "--socket", plugin.socket, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    key_id = plugin.status().key_id
    assert document["healthy"] is True
    assert document["status"]["keyIdHash"] == key_id_hash(key_id)
    assert document["roundTrip"]["keyIdHash"] == key_id_hash(key_id)
    assert key_id not in result.stdout


def test_empty_and_oversized_plaintext_are_invalid_argument(plugin: RunningPlugin) -> None:
    for plaintext in (b"", b"x" * 5000):
        with pytest.raises(grpc.RpcError) as caught:
            plugin.encrypt(plaintext)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_200_parallel_calls(plugin: RunningPlugin) -> None:
    def one(i: int) -> bool:
        seed = i.to_bytes(4, "big") * 8
        return plugin.decrypt(plugin.encrypt(seed, uid=f"u{i}")).plaintext == seed

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(200)))
    assert all(results)


def test_metrics_and_probe_endpoints(plugin: RunningPlugin) -> None:
    plugin.decrypt(plugin.encrypt(b"\x01" * 32))
    code, body = _http(plugin, "/metrics")
    assert code == 200
    assert 'sealbox_kms_requests_total{backend="local",operation="decrypt",result="ok"}' in body
    assert "sealbox_kms_request_duration_seconds_bucket" in body
    assert 'sealbox_kms_backend_healthy{backend="local",role="primary"} 1.0' in body
    key_id = plugin.status().key_id
    assert "sealbox_kms_key_id_info" in body
    assert key_id not in body  # only its hash is exported
    assert _http(plugin, "/healthz") == (200, "ok\n")
    assert _http(plugin, "/readyz") == (200, "ok\n")
    assert _http(plugin, "/livez") == (200, "ok\n")
    assert _http(plugin, "/nope")[0] == 404


def test_v1beta1_behind_a_flag(plugin: RunningPlugin) -> None:
    client = KMSv1Client(
        KMSConfiguration(name="v1", endpoint=plugin.endpoint, api_version="v1", cachesize=10)
    )
    try:
        assert client.decrypt(client.encrypt(b"\x05" * 32)) == b"\x05" * 32
    finally:
        client.close()


def test_encryption_core_end_to_end_through_the_plugin(plugin: RunningPlugin) -> None:
    text = (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "- resources: [secrets]\n  providers:\n"
        f"  - kms: {{apiVersion: v2, name: sealbox, endpoint: '{plugin.endpoint}'}}\n"
        "  - identity: {}\n"
    )
    config = parse_config(text, "e2e")
    password = b"e2e-secret-value-" + os.urandom(8).hex().encode()
    plaintext = codec.encode_secret(name="db", namespace="prod", data={"password": password})
    key = "/registry/secrets/prod/db"
    with GrpcConnector() as connector:
        value = StorageTransformers(config, connector).write(key, plaintext)
    assert value.startswith(b"k8s:enc:kms:v2:sealbox:")
    assert password not in value
    with GrpcConnector() as connector:  # a fresh reader: the seed comes back via plugin Decrypt
        result = StorageTransformers(config, connector).read(key, value)
    assert (result.provider, result.stale, result.data) == ("kms-v2", False, plaintext)
    obj = codec.decode_object(result.data)
    assert base64.b64decode(obj["data"]["password"]) == password
    log = (Path(plugin.socket).parent / "plugin.log").read_text()
    for needle in (password.decode(), base64.b64encode(password).decode(), password.hex()):
        assert needle not in log


def test_sigterm_drains_and_removes_the_socket(plugin: RunningPlugin) -> None:
    plugin.process.signal(signal.SIGTERM)
    assert plugin.process.process is not None
    assert plugin.process.process.wait(15) == 0
    assert not os.path.exists(plugin.socket)
    assert '"msg": "stopped"' in plugin.process.log_tail()


def test_stale_socket_is_replaced_and_live_one_refused(workdir: Path) -> None:
    local.create_keyring(workdir / "kek.key")
    sock_path = workdir / "kms.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # leaves the file behind, nobody listening
    address, port = metrics_address()
    config = write_plugin_config(
        workdir, str(sock_path), {"type": "local", "keyFile": "kek.key"}, metricsAddress=address
    )
    with run_plugin(config, metrics_port=port) as running:
        assert running.status().healthz == "ok"
        second = subprocess.run(
            [*SEALBOX, "kms", "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 2
        assert "another server is already listening" in second.stderr
        assert running.status().healthz == "ok"


def test_refuses_to_replace_a_regular_file(workdir: Path) -> None:
    local.create_keyring(workdir / "kek.key")
    (workdir / "kms.sock").write_text("not a socket")
    result = subprocess.run(
        [
            *SEALBOX,
            "kms",
            "serve",
            "--socket",
            str(workdir / "kms.sock"),
            "--key-file",
            str(workdir / "kek.key"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "is not a socket" in result.stderr
    assert (workdir / "kms.sock").read_text() == "not a socket"


def test_keygen_refuses_to_overwrite_and_writes_0600(workdir: Path) -> None:
    path = workdir / "k.key"
    argv = [*SEALBOX, "kms", "keygen", "--key-file", str(path)]
    first = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    again = subprocess.run(argv, capture_output=True, text=True)
    assert again.returncode == 2
    assert "refusing to overwrite" in again.stderr
    assert path.read_text() == content
    secret = local.load_keyring(path)[0].material
    assert first.stdout.strip() == local.key_id_for(secret)
    for needle in (base64.b64encode(secret).decode(), secret.hex()):
        assert needle not in first.stdout + again.stderr


def test_decrypt_only_backend_serves_old_data_during_a_migration(workdir: Path) -> None:
    """Move from KMS A to KMS B: B encrypts, A still decrypts what it wrapped, no downtime."""
    local.create_keyring(workdir / "old.key")
    local.create_keyring(workdir / "new.key")
    address, port = metrics_address()
    config = write_plugin_config(
        workdir,
        str(workdir / "kms.sock"),
        {"type": "local", "keyFile": "old.key"},
        metricsAddress=address,
    )
    with run_plugin(config, metrics_port=port) as before:
        old_key_id = before.status().key_id
        old = before.encrypt(b"\x09" * 32)
    address, port = metrics_address()
    config = write_plugin_config(
        workdir,
        str(workdir / "kms.sock"),
        {"type": "local", "keyFile": "new.key"},
        decrypt_only=[{"type": "local", "keyFile": "old.key"}],
        metricsAddress=address,
    )
    with run_plugin(config, metrics_port=port) as after:
        assert after.status().key_id not in ("", old_key_id)
        assert after.decrypt(old).plaintext == b"\x09" * 32
        fresh = after.encrypt(b"\x0a" * 32)
        assert fresh.key_id != old_key_id
        assert after.decrypt(fresh).plaintext == b"\x0a" * 32
