"""gRPC clients for KMS plugins, called the way kube-apiserver calls them.

Each call carries the provider's timeout as its deadline and waits for the connection
(``WaitForReady``), with ``:authority`` set to ``localhost`` as the apiserver does. All grpc
errors are translated here, once: an unreachable plugin is :class:`BackendUnavailable` naming
the provider and endpoint; a plugin that refuses is :class:`DecryptError` / :class:`EncryptError`.
Plugin error details are trimmed before they reach a message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

import grpc

from sealbox._proto import (
    kmsv1beta1_api_pb2,
    kmsv1beta1_api_pb2_grpc,
    kmsv2_api_pb2,
    kmsv2_api_pb2_grpc,
)
from sealbox.errors import (
    BackendUnavailable,
    DecryptError,
    EncryptError,
    KMSPluginError,
    SealboxError,
)
from sealbox.kms import PluginAddress, PluginStatus, Wrapped, grpc_target

__all__ = ["GrpcConnector", "KMSv1Client", "KMSv2Client"]

_Response = TypeVar("_Response")
_UNAVAILABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_DETAIL_CHARS = 200
V1_API_VERSION = "v1beta1"


class _Client:
    def __init__(self, plugin: PluginAddress) -> None:
        self.plugin = plugin
        self._channel = grpc.insecure_channel(
            grpc_target(plugin.endpoint), options=[("grpc.default_authority", "localhost")]
        )

    def close(self) -> None:
        self._channel.close()

    def _call(
        self,
        operation: str,
        method: Callable[..., _Response],
        request: object,
        error: type[SealboxError],
    ) -> _Response:
        try:
            return method(request, timeout=self.plugin.timeout_seconds, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise self._translate(operation, exc, error) from None

    def _translate(
        self, operation: str, exc: grpc.RpcError, error: type[SealboxError]
    ) -> Exception:
        code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = exc.details() if isinstance(exc, grpc.Call) else None
        detail = (details or "").replace("\n", " ")[:_DETAIL_CHARS]
        where = f"KMS plugin {self.plugin.name!r} at {self.plugin.endpoint}"
        if code in _UNAVAILABLE_CODES:
            return BackendUnavailable(
                f"{where} did not answer {operation} within {self.plugin.timeout_seconds:g}s "
                f"({code.name}: {detail}); is the plugin running and is the socket reachable?"
            )
        return error(f"{where} refused {operation} ({code.name}: {detail})")


class KMSv2Client(_Client):
    """A ``v2.KeyManagementService`` client (implements ``KMSv2Service``)."""

    def __init__(self, plugin: PluginAddress) -> None:
        super().__init__(plugin)
        self._stub = kmsv2_api_pb2_grpc.KeyManagementServiceStub(self._channel)

    def status(self) -> PluginStatus:
        response = self._call(
            "Status", self._stub.Status, kmsv2_api_pb2.StatusRequest(), KMSPluginError
        )
        return PluginStatus(
            version=response.version, healthz=response.healthz, key_id=response.key_id
        )

    def encrypt(self, plaintext: bytes, *, uid: str) -> Wrapped:
        request = kmsv2_api_pb2.EncryptRequest(plaintext=plaintext, uid=uid)
        response = self._call("Encrypt", self._stub.Encrypt, request, EncryptError)
        return Wrapped(
            ciphertext=response.ciphertext,
            key_id=response.key_id,
            annotations=dict(response.annotations),
        )

    def decrypt(
        self, ciphertext: bytes, *, uid: str, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        request = kmsv2_api_pb2.DecryptRequest(
            ciphertext=ciphertext, uid=uid, key_id=key_id, annotations=dict(annotations)
        )
        return self._call("Decrypt", self._stub.Decrypt, request, DecryptError).plaintext


class KMSv1Client(_Client):
    """A ``v1beta1.KeyManagementService`` client; checks ``Version`` once before first use."""

    def __init__(self, plugin: PluginAddress) -> None:
        super().__init__(plugin)
        self._stub = kmsv1beta1_api_pb2_grpc.KeyManagementServiceStub(self._channel)
        self._version_checked = False

    def encrypt(self, plaintext: bytes) -> bytes:
        self._check_version()
        request = kmsv1beta1_api_pb2.EncryptRequest(version=V1_API_VERSION, plain=plaintext)
        return self._call("Encrypt", self._stub.Encrypt, request, EncryptError).cipher

    def decrypt(self, ciphertext: bytes) -> bytes:
        self._check_version()
        request = kmsv1beta1_api_pb2.DecryptRequest(version=V1_API_VERSION, cipher=ciphertext)
        return self._call("Decrypt", self._stub.Decrypt, request, DecryptError).plain

    def _check_version(self) -> None:
        if self._version_checked:
            return
        request = kmsv1beta1_api_pb2.VersionRequest(version=V1_API_VERSION)
        response = self._call("Version", self._stub.Version, request, KMSPluginError)
        if response.version != V1_API_VERSION:
            raise KMSPluginError(
                f"KMS plugin {self.plugin.name!r} at {self.plugin.endpoint}: api version "
                f"{response.version[:32]!r} is not supported, only {V1_API_VERSION} is"
            )
        self._version_checked = True


class GrpcConnector:
    """Opens one client per kms provider block and closes them all at the end."""

    def __init__(self) -> None:
        self._clients: list[_Client] = []
        self._lock = threading.Lock()

    def v2(self, plugin: PluginAddress) -> KMSv2Client:
        return self._keep(KMSv2Client(plugin))

    def v1(self, plugin: PluginAddress) -> KMSv1Client:
        return self._keep(KMSv1Client(plugin))

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def __enter__(self) -> GrpcConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _keep(self, client: _C) -> _C:
        with self._lock:
            self._clients.append(client)
        return client


_C = TypeVar("_C", bound=_Client)
