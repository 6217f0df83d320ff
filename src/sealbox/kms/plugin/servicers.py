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

from sealbox import __version__
from sealbox._proto import kmsv1beta1_api_pb2 as v1
from sealbox._proto import kmsv1beta1_api_pb2_grpc as v1_grpc
from sealbox._proto import kmsv2_api_pb2 as v2
from sealbox._proto import kmsv2_api_pb2_grpc as v2_grpc
from sealbox.errors import BackendRejected, BackendUnavailable, PluginUnhealthy, SealboxError
from sealbox.kms.plugin.service import InvalidRequest, PluginService

__all__ = ["V1beta1Servicer", "V2Servicer", "add_servicers"]

log = logging.getLogger("sealbox.kms.grpc")
T = TypeVar("T")
Context = grpc.aio.ServicerContext[object, object]
_DETAIL_CHARS = 300


async def _answer(operation: str, context: Context, work: Awaitable[T]) -> T:
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


async def _abort(context: Context, code: grpc.StatusCode, detail: str) -> NoReturn:
    await context.abort(code, detail.replace("\n", " ")[:_DETAIL_CHARS])
    raise AssertionError("unreachable: abort raises")


class V2Servicer(v2_grpc.KeyManagementServiceServicer):
    def __init__(self, service: PluginService) -> None:
        self._service = service

    async def Status(self, request: v2.StatusRequest, context: Context) -> v2.StatusResponse:  # noqa: N802 - gRPC method name
        status = await _answer("Status", context, self._service.status())
        return v2.StatusResponse(
            version=status.version, healthz=status.healthz, key_id=status.key_id
        )

    async def Encrypt(self, request: v2.EncryptRequest, context: Context) -> v2.EncryptResponse:  # noqa: N802
        work = self._service.encrypt(request.plaintext, request.uid)
        wrapped = await _answer("Encrypt", context, work)
        annotations = dict(wrapped.annotations)
        return v2.EncryptResponse(
            ciphertext=wrapped.ciphertext, key_id=wrapped.key_id, annotations=annotations
        )

    async def Decrypt(self, request: v2.DecryptRequest, context: Context) -> v2.DecryptResponse:  # noqa: N802
        annotations = dict(request.annotations)
        work = self._service.decrypt(request.ciphertext, request.key_id, annotations, request.uid)
        return v2.DecryptResponse(plaintext=await _answer("Decrypt", context, work))


class V1beta1Servicer(v1_grpc.KeyManagementServiceServicer):
    """The deprecated KMS v1 API, for clusters that still read v1 data."""

    def __init__(self, service: PluginService) -> None:
        self._service = service

    async def Version(self, request: v1.VersionRequest, context: Context) -> v1.VersionResponse:  # noqa: N802
        return v1.VersionResponse(
            version="v1beta1", runtime_name="sealbox", runtime_version=__version__
        )

    async def Encrypt(self, request: v1.EncryptRequest, context: Context) -> v1.EncryptResponse:  # noqa: N802
        work = self._service.encrypt_v1(request.plain)
        return v1.EncryptResponse(cipher=await _answer("Encrypt", context, work))

    async def Decrypt(self, request: v1.DecryptRequest, context: Context) -> v1.DecryptResponse:  # noqa: N802
        work = self._service.decrypt_v1(request.cipher)
        return v1.DecryptResponse(plain=await _answer("Decrypt", context, work))


def add_servicers(server: grpc.aio.Server, service: PluginService, *, v1beta1: bool) -> None:
    v2_grpc.add_KeyManagementServiceServicer_to_server(V2Servicer(service), server)
    if v1beta1:
        v1_grpc.add_KeyManagementServiceServicer_to_server(V1beta1Servicer(service), server)
