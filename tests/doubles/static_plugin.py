"""A small KMS plugin with a fixed key, for tests: the recorded vectors and outage handling.

It serves ``v2.KeyManagementService`` and ``v1beta1.KeyManagementService`` on a unix socket,
wrapping with a :class:`Wrapper`:

* :class:`AESGCMWrapper`: ``nonce(12) ‖ AES-256-GCM(plaintext, aad=key_id)`` — the scheme of the
  plugin that recorded ``shared/testdata/kube-apiserver-1.36``.
* :class:`Base64Wrapper`: upstream's ``Base64Plugin`` test mock (no secrecy at all), which wrote
  the KMS v2 legacy vectors.

A test double, not a production plugin (``sealbox kms serve`` is): the key is whatever the test
passes in, and :meth:`StaticKEKPlugin.fail_with` injects gRPC errors to exercise outage handling.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from sealbox._proto import (
    kmsv1beta1_api_pb2,
    kmsv1beta1_api_pb2_grpc,
    kmsv2_api_pb2,
    kmsv2_api_pb2_grpc,
)
from sealbox.kms import endpoint_url, socket_target
from tests.doubles.aead import UnwrapFailed, gcm_open, gcm_seal

__all__ = ["AESGCMWrapper", "Base64Wrapper", "StaticKEKPlugin", "UnwrapFailed", "Wrapper"]


class Wrapper(Protocol):
    @property
    def key_id(self) -> str: ...

    def wrap(self, plaintext: bytes) -> bytes: ...

    def unwrap(self, ciphertext: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class AESGCMWrapper:
    """AES-256-GCM under a fixed KEK with the key_id as associated data."""

    kek: bytes = field(repr=False)
    key_id: str

    def wrap(self, plaintext: bytes) -> bytes:
        return gcm_seal(self.kek, plaintext, self.key_id.encode())

    def unwrap(self, ciphertext: bytes) -> bytes:
        return gcm_open(self.kek, ciphertext, self.key_id.encode())


@dataclass(frozen=True, slots=True)
class Base64Wrapper:
    """Upstream's Base64Plugin: "encrypts" by base64. Only for reading upstream test vectors."""

    key_id: str = "1"

    def wrap(self, plaintext: bytes) -> bytes:
        return base64.b64encode(plaintext)

    def unwrap(self, ciphertext: bytes) -> bytes:
        try:
            return base64.b64decode(ciphertext, validate=True)
        except binascii.Error:
            raise UnwrapFailed from None


class _Failure:
    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None

    def check(self, context: grpc.ServicerContext) -> None:
        code = self.code
        if code is not None:
            context.abort(code, "injected failure")


class _V2Servicer(kmsv2_api_pb2_grpc.KeyManagementServiceServicer):
    def __init__(self, plugin: StaticKEKPlugin) -> None:
        self._plugin = plugin

    def Status(  # noqa: N802 - gRPC method name
        self, request: kmsv2_api_pb2.StatusRequest, context: grpc.ServicerContext
    ) -> kmsv2_api_pb2.StatusResponse:
        self._plugin.record("Status", context)
        return kmsv2_api_pb2.StatusResponse(
            version=self._plugin.status_version,
            healthz=self._plugin.healthz,
            key_id=self._plugin.wrapper.key_id,
        )

    def Encrypt(  # noqa: N802
        self, request: kmsv2_api_pb2.EncryptRequest, context: grpc.ServicerContext
    ) -> kmsv2_api_pb2.EncryptResponse:
        self._plugin.record("Encrypt", context)
        if not request.uid:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "uid is required")
        wrapper = self._plugin.wrapper
        return kmsv2_api_pb2.EncryptResponse(
            ciphertext=wrapper.wrap(request.plaintext),
            key_id=wrapper.key_id,
            annotations=dict(self._plugin.annotations),
        )

    def Decrypt(  # noqa: N802
        self, request: kmsv2_api_pb2.DecryptRequest, context: grpc.ServicerContext
    ) -> kmsv2_api_pb2.DecryptResponse:
        self._plugin.record("Decrypt", context)
        if not request.uid:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "uid is required")
        wrapper = self._plugin.wrapper
        if request.key_id != wrapper.key_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown key_id")
        try:
            plaintext = wrapper.unwrap(request.ciphertext)
        except UnwrapFailed:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "ciphertext does not unwrap")
        return kmsv2_api_pb2.DecryptResponse(plaintext=plaintext)


class _V1Servicer(kmsv1beta1_api_pb2_grpc.KeyManagementServiceServicer):
    def __init__(self, plugin: StaticKEKPlugin) -> None:
        self._plugin = plugin

    def Version(  # noqa: N802
        self, request: kmsv1beta1_api_pb2.VersionRequest, context: grpc.ServicerContext
    ) -> kmsv1beta1_api_pb2.VersionResponse:
        self._plugin.record("Version", context)
        return kmsv1beta1_api_pb2.VersionResponse(
            version="v1beta1", runtime_name="sealbox-static-kek", runtime_version="0.1.0"
        )

    def Encrypt(  # noqa: N802
        self, request: kmsv1beta1_api_pb2.EncryptRequest, context: grpc.ServicerContext
    ) -> kmsv1beta1_api_pb2.EncryptResponse:
        self._plugin.record("v1.Encrypt", context)
        return kmsv1beta1_api_pb2.EncryptResponse(cipher=self._plugin.wrapper.wrap(request.plain))

    def Decrypt(  # noqa: N802
        self, request: kmsv1beta1_api_pb2.DecryptRequest, context: grpc.ServicerContext
    ) -> kmsv1beta1_api_pb2.DecryptResponse:
        self._plugin.record("v1.Decrypt", context)
        try:
            plain = self._plugin.wrapper.unwrap(request.cipher)
        except UnwrapFailed:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "ciphertext does not unwrap")
        return kmsv1beta1_api_pb2.DecryptResponse(plain=plain)


class StaticKEKPlugin:
    """A running plugin on ``socket_path``; use as a context manager or call start/stop."""

    def __init__(
        self,
        socket_path: str,
        wrapper: Wrapper,
        *,
        annotations: Mapping[str, bytes] | None = None,
        status_version: str = "v2",
    ) -> None:
        self.socket_path = socket_path
        self.wrapper = wrapper
        self.annotations = dict(annotations or {})
        self.status_version = status_version
        self.healthz = "ok"
        self.calls: dict[str, int] = {}
        self._failure = _Failure()
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    @property
    def endpoint(self) -> str:
        return endpoint_url(self.socket_path)

    def fail_with(self, code: grpc.StatusCode | None) -> None:
        """Make every call fail with ``code`` (``None`` heals the plugin)."""
        self._failure.code = code

    def record(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls[method] = self.calls.get(method, 0) + 1
        self._failure.check(context)

    def start(self) -> StaticKEKPlugin:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        kmsv2_api_pb2_grpc.add_KeyManagementServiceServicer_to_server(_V2Servicer(self), server)
        kmsv1beta1_api_pb2_grpc.add_KeyManagementServiceServicer_to_server(
            _V1Servicer(self), server
        )
        server.add_insecure_port(socket_target(self.socket_path))
        server.start()
        if not self.socket_path.startswith("@"):
            os.chmod(self.socket_path, 0o600)
        self._server = server
        return self

    def stop(self, grace_seconds: float = 0.5) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace_seconds).wait()

    def __enter__(self) -> StaticKEKPlugin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
