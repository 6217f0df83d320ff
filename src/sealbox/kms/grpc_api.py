"""``v2.KeyManagementService`` (optionally ``v1beta1`` too) on grpc.aio, over the service.

Errors are translated in one place: a malformed request or a ciphertext the backend refuses is
``INVALID_ARGUMENT``; a backend that cannot be reached (or an unhealthy Status) is
``UNAVAILABLE``; an Encrypt the backend refuses is ``FAILED_PRECONDITION``; anything else is
logged with its traceback and answered ``INTERNAL`` with no detail. Nothing crashes the server.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import NoReturn, TypeVar

import grpc

from sealbox._proto import (
    kmsv1beta1_api_pb2,
    kmsv1beta1_api_pb2_grpc,
    kmsv2_api_pb2,
    kmsv2_api_pb2_grpc,
)
from sealbox.errors import BackendRejected, BackendUnavailable, PluginUnhealthy, SealboxError
from sealbox.kms.service import InvalidRequest, PluginService

__all__ = ["V1beta1Servicer", "V2Servicer", "add_servicers"]

log = logging.getLogger("sealbox.kms.grpc")
T = TypeVar("T")
_DETAIL_CHARS = 300


async def _answer(
    operation: str, context: grpc.aio.ServicerContext[object, object], work: Awaitable[T]
) -> T:
    try:
        return await work
    except InvalidRequest as exc:
        await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except BackendRejected as exc:
        code = (
            grpc.StatusCode.FAILED_PRECONDITION
            if operation == "Encrypt"
            else grpc.StatusCode.INVALID_ARGUMENT
        )
        await _abort(context, code, str(exc))
    except (BackendUnavailable, PluginUnhealthy) as exc:
        await _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
    except SealboxError as exc:
        log.error("%s failed", operation, extra={"error": str(exc)[:_DETAIL_CHARS]})
        await _abort(context, grpc.StatusCode.INTERNAL, str(exc))
    except Exception:
        log.exception("%s failed unexpectedly", operation)
        await _abort(context, grpc.StatusCode.INTERNAL, "internal error; see the plugin log")


async def _abort(
    context: grpc.aio.ServicerContext[object, object], code: grpc.StatusCode, detail: str
) -> NoReturn:
    await context.abort(code, detail.replace("\n", " ")[:_DETAIL_CHARS])
    raise AssertionError("unreachable: abort raises")


class V2Servicer(kmsv2_api_pb2_grpc.KeyManagementServiceServicer):
    def __init__(self, service: PluginService) -> None:
        self._service = service

    async def Status(  # noqa: N802 - gRPC method name
        self,
        request: kmsv2_api_pb2.StatusRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> kmsv2_api_pb2.StatusResponse:
        status = await _answer("Status", context, self._service.status())
        return kmsv2_api_pb2.StatusResponse(
            version=status.version, healthz=status.healthz, key_id=status.key_id
        )

    async def Encrypt(  # noqa: N802
        self,
        request: kmsv2_api_pb2.EncryptRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> kmsv2_api_pb2.EncryptResponse:
        wrapped = await _answer(
            "Encrypt", context, self._service.encrypt(request.plaintext, request.uid)
        )
        return kmsv2_api_pb2.EncryptResponse(
            ciphertext=wrapped.ciphertext,
            key_id=wrapped.key_id,
            annotations=dict(wrapped.annotations),
        )

    async def Decrypt(  # noqa: N802
        self,
        request: kmsv2_api_pb2.DecryptRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> kmsv2_api_pb2.DecryptResponse:
        work = self._service.decrypt(
            request.ciphertext, request.key_id, dict(request.annotations), request.uid
        )
        plaintext = await _answer("Decrypt", context, work)
        return kmsv2_api_pb2.DecryptResponse(plaintext=plaintext)


class V1beta1Servicer(kmsv1beta1_api_pb2_grpc.KeyManagementServiceServicer):
    """The deprecated KMS v1 API, for clusters that still read v1 data."""

    def __init__(self, service: PluginService) -> None:
        self._service = service

    async def Version(  # noqa: N802
        self,
        request: kmsv1beta1_api_pb2.VersionRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> kmsv1beta1_api_pb2.VersionResponse:
        from sealbox import __version__

        return kmsv1beta1_api_pb2.VersionResponse(
            version="v1beta1", runtime_name="sealbox", runtime_version=__version__
        )

    async def Encrypt(  # noqa: N802
        self,
        request: kmsv1beta1_api_pb2.EncryptRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> kmsv1beta1_api_pb2.EncryptResponse:
        cipher = await _answer("Encrypt", context, self._service.encrypt_v1(request.plain))
        return kmsv1beta1_api_pb2.EncryptResponse(cipher=cipher)

    async def Decrypt(  # noqa: N802
        self,
        request: kmsv1beta1_api_pb2.DecryptRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> kmsv1beta1_api_pb2.DecryptResponse:
        plain = await _answer("Decrypt", context, self._service.decrypt_v1(request.cipher))
        return kmsv1beta1_api_pb2.DecryptResponse(plain=plain)


def add_servicers(server: grpc.aio.Server, service: PluginService, *, v1beta1: bool) -> None:
    kmsv2_api_pb2_grpc.add_KeyManagementServiceServicer_to_server(V2Servicer(service), server)
    if v1beta1:
        kmsv1beta1_api_pb2_grpc.add_KeyManagementServiceServicer_to_server(
            V1beta1Servicer(service), server
        )
