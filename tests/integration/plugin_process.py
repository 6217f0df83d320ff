"""Run ``sealbox kms serve`` as a real process, as kube-apiserver's node would."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import yaml

from sealbox._proto import kmsv2_api_pb2, kmsv2_api_pb2_grpc
from tests.integration.processes import ManagedProcess, free_port, wait_until

SEALBOX = [sys.executable, "-m", "sealbox"]


def write_plugin_config(
    directory: Path,
    socket: str,
    primary: Mapping[str, Any],
    *,
    decrypt_only: list[Mapping[str, Any]] | None = None,
    **fields: Any,
) -> Path:
    document = {
        "apiVersion": "sealbox.io/v1alpha1",
        "kind": "KMSPluginConfiguration",
        "socket": socket,
        "backends": {"primary": dict(primary), "decryptOnly": list(decrypt_only or [])},
        **fields,
    }
    path = directory / "plugin.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


class RunningPlugin:
    def __init__(self, process: ManagedProcess, socket: str, metrics_port: int) -> None:
        self.process = process
        self.socket = socket
        self.metrics_port = metrics_port
        self.channel = grpc.insecure_channel(
            "unix://" + socket, options=[("grpc.default_authority", "localhost")]
        )
        self.stub = kmsv2_api_pb2_grpc.KeyManagementServiceStub(self.channel)

    @property
    def endpoint(self) -> str:
        return "unix://" + self.socket

    def status(self, timeout: float = 5) -> kmsv2_api_pb2.StatusResponse:
        return self.stub.Status(kmsv2_api_pb2.StatusRequest(), timeout=timeout)

    def encrypt(self, plaintext: bytes, uid: str = "uid") -> kmsv2_api_pb2.EncryptResponse:
        return self.stub.Encrypt(
            kmsv2_api_pb2.EncryptRequest(plaintext=plaintext, uid=uid), timeout=10
        )

    def decrypt(
        self, response: kmsv2_api_pb2.EncryptResponse, uid: str = "uid"
    ) -> kmsv2_api_pb2.DecryptResponse:
        request = kmsv2_api_pb2.DecryptRequest(
            ciphertext=response.ciphertext,
            uid=uid,
            key_id=response.key_id,
            annotations=dict(response.annotations),
        )
        return self.stub.Decrypt(request, timeout=10)


@contextmanager
def run_plugin(
    config: Path, *, metrics_port: int, env: Mapping[str, str] | None = None
) -> Iterator[RunningPlugin]:
    """Start the plugin from ``config`` and wait until Status answers over the socket."""
    document = yaml.safe_load(config.read_text())
    socket = str(document["socket"])
    process = ManagedProcess(
        [*SEALBOX, "kms", "serve", "--config", str(config)],
        log_path=config.parent / "plugin.log",
        env={**(env or {}), "PYTHONUNBUFFERED": "1"},
    ).start()
    plugin = RunningPlugin(process, socket, metrics_port)
    try:
        wait_until(
            lambda: _serving(plugin), timeout=30, what=f"plugin on {socket}\n{process.log_tail()}"
        )
        yield plugin
    finally:
        plugin.channel.close()
        process.stop()


def _serving(plugin: RunningPlugin) -> bool:
    if not plugin.process.running:
        raise RuntimeError(f"plugin exited early:\n{plugin.process.log_tail()}")
    if not os.path.exists(plugin.socket):
        return False
    try:
        plugin.status(timeout=1)
    except grpc.RpcError as exc:
        # An unhealthy backend still means the server is up.
        return exc.code() == grpc.StatusCode.UNAVAILABLE and "not healthy" in (exc.details() or "")
    return True


def metrics_address() -> tuple[str, int]:
    port = free_port()
    return f"127.0.0.1:{port}", port
