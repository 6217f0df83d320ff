"""The plugin's gRPC status codes tell kube-apiserver the truth (a real grpc.aio server on a unix
socket, in-process backends): what is wrong with the request, and what is wrong with the plugin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
import pytest
from google.protobuf.message import Message

from sealbox._proto import kmsv1beta1_api_pb2 as v1
from sealbox._proto import kmsv2_api_pb2 as v2
from sealbox.errors import AccessDenied, BackendRejected
from sealbox.kms import Wrapped
from sealbox.kms.backends import Backend
from sealbox.kms.plugin import PluginService, add_servicers
from tests.kms.test_service import MemoryBackend
from tests.kms_fixtures import socket_dir

SEED = b"z" * 32
pytestmark = pytest.mark.integration  # unix sockets


@dataclass
class Scripted(MemoryBackend):
    """A memory backend whose unwrap and wrap fail as told, or hang until released."""

    unwrap_error: Exception | None = None
    wrap_error: Exception | None = None
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def wrap(self, plaintext: bytes) -> Wrapped:  # type: ignore[override]
        if self.wrap_error is not None:
            raise self.wrap_error
        return await super().wrap(plaintext)

    async def unwrap(  # type: ignore[override]
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        if self.hang:
            await self.release.wait()
        if self.unwrap_error is not None:
            raise self.unwrap_error
        return await super().unwrap(ciphertext, key_id, annotations)


Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)


@dataclass
class Served:
    service: PluginService
    channel: grpc.aio.Channel

    def raw(self, method: str) -> Callable[..., Awaitable[bytes]]:
        """A call that sends bytes as they are, as a broken or hostile client would."""
        return self.channel.unary_unary(method, request_serializer=None, response_deserializer=None)

    def call(
        self, method: str, request: Request, response: type[Response], timeout: float = 5
    ) -> Awaitable[Response]:
        unary = self.channel.unary_unary(
            f"/v2.KeyManagementService/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response.FromString,
        )
        return unary(request, timeout=timeout)

    def encrypt(self, plaintext: bytes) -> Awaitable[v2.EncryptResponse]:
        return self.call(
            "Encrypt", v2.EncryptRequest(plaintext=plaintext, uid="u"), v2.EncryptResponse
        )

    def decrypt(
        self, wrapped: v2.EncryptResponse, timeout: float = 5
    ) -> Awaitable[v2.DecryptResponse]:
        request = v2.DecryptRequest(ciphertext=wrapped.ciphertext, uid="u", key_id=wrapped.key_id)
        return self.call("Decrypt", request, v2.DecryptResponse, timeout)

    def status(self) -> Awaitable[v2.StatusResponse]:
        return self.call("Status", v2.StatusRequest(), v2.StatusResponse)

    def count(self, operation: str, backend: str, result: str) -> float:
        for family in self.service.metrics.registry.collect():
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "sealbox_kms_requests_total" and (
                    labels["operation"],
                    labels["backend"],
                    labels["result"],
                ) == (operation, backend, result):
                    return sample.value
        return 0.0


@asynccontextmanager
async def serving(backend: Backend) -> AsyncIterator[Served]:
    with socket_dir() as directory:
        target = f"unix://{directory}/kms.sock"
        service = PluginService(backend)
        await service.start()
        server = grpc.aio.server()
        add_servicers(server, service, v1beta1=True)
        server.add_insecure_port(target)
        await server.start()
        channel = grpc.aio.insecure_channel(target)
        try:
            yield Served(service, channel)
        finally:
            await channel.close()
            await server.stop(0)
            await service.close()


async def _code(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ("/v2.KeyManagementService/Decrypt", "v2.DecryptRequest"),
        ("/v2.KeyManagementService/Encrypt", "v2.EncryptRequest"),
        ("/v2.KeyManagementService/Status", "v2.StatusRequest"),
        ("/v1beta1.KeyManagementService/Decrypt", "v1beta1.DecryptRequest"),
    ],
)
def test_bytes_that_do_not_parse_are_invalid_argument(method: str, message: str) -> None:
    """grpc itself would answer UNKNOWN with a protobuf DecodeError."""
    garbage = [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x08"]  # bad tag, truncated field, value
    if "v2" in method and "Status" not in method:
        garbage.append(b"\x12\x02\xc3\x28")  # uid (a proto3 string) that is not UTF-8

    async def scenario() -> None:
        async with serving(MemoryBackend()) as served:
            for data in garbage:
                code, details = await _code(served.raw(method)(data, timeout=5))
                assert code == grpc.StatusCode.INVALID_ARGUMENT, details
                assert details == f"the request is not a valid {message} protobuf message"
            operation = method.rsplit("/", 1)[1].lower()
            assert served.count(operation, "none", "invalid") == len(garbage)
            assert (await served.status()).healthz == "ok"  # nothing broke

    asyncio.run(scenario())


def test_the_codes_of_a_refused_request_and_of_a_refused_plugin() -> None:
    async def scenario() -> None:
        backend = Scripted()
        async with serving(backend) as served:
            wrapped = await served.encrypt(SEED)
            backend.unwrap_error = BackendRejected("memory: ciphertext does not unwrap")
            code, _ = await _code(served.decrypt(wrapped))
            assert code == grpc.StatusCode.INVALID_ARGUMENT
            backend.wrap_error = BackendRejected("memory: the key is disabled")
            code, _ = await _code(served.encrypt(SEED))
            assert code == grpc.StatusCode.FAILED_PRECONDITION
            assert served.service.health.snapshot.healthy  # refusals of a request are no outage

            backend.unwrap_error = AccessDenied("memory: decrypt refused: permission denied")
            code, details = await _code(served.decrypt(wrapped))
            assert (code, details) == (
                grpc.StatusCode.UNAVAILABLE,
                "memory: decrypt refused: permission denied",
            )
            assert served.count("decrypt", "memory", "unavailable") == 1
            assert not served.service.health.snapshot.healthy
            code, _ = await _code(served.status())
            assert code == grpc.StatusCode.UNAVAILABLE
            assert served.count("status", "memory", "unavailable") == 1

    asyncio.run(scenario())


def test_a_hung_backend_is_unavailable_before_the_callers_deadline_then_fails_fast() -> None:
    async def scenario() -> None:
        backend = Scripted()
        async with serving(backend) as served:
            wrapped = await served.encrypt(SEED)
            backend.hang = True
            started = time.monotonic()
            code, details = await _code(served.decrypt(wrapped, timeout=1.0))
            assert code == grpc.StatusCode.UNAVAILABLE, details  # not DEADLINE_EXCEEDED
            assert "no answer before the caller's deadline" in details
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            code, details = await _code(served.decrypt(wrapped, timeout=1.0))
            assert code == grpc.StatusCode.UNAVAILABLE
            assert "failing fast" in details
            assert time.monotonic() - started < 0.2
            backend.release.set()

    asyncio.run(scenario())


def test_v1beta1_garbage_and_version_still_answer() -> None:
    async def scenario() -> None:
        async with serving(MemoryBackend()) as served:
            version = served.channel.unary_unary(
                "/v1beta1.KeyManagementService/Version",
                request_serializer=v1.VersionRequest.SerializeToString,
                response_deserializer=v1.VersionResponse.FromString,
            )
            answer = await version(v1.VersionRequest(version="v1beta1"), timeout=5)
            assert answer.version == "v1beta1"

    asyncio.run(scenario())
