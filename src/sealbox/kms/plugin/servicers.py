"""``v2.KeyManagementService`` (optionally ``v1beta1`` too) on grpc.aio, over the service.

The status codes tell kube-apiserver the truth, translated in one place:

* ``INVALID_ARGUMENT``: the request is at fault: bytes that do not parse as the method's
  protobuf message, a field that breaks the API's rules, a ciphertext the backend refuses;
* ``FAILED_PRECONDITION``: the backend refuses to Encrypt with its key (disabled, deleted);
* ``UNAVAILABLE``: the plugin cannot serve now, whoever asks: a backend unreachable, too slow for
  the call's deadline, failing fast after an outage, or refusing the plugin's own credential
  (token, PIN, IAM permission); an unhealthy Status;
* ``INTERNAL``: anything else, logged with its traceback and answered with no detail.

Each call passes the time left before its gRPC deadline to the service, which answers before the
deadline: kube-apiserver sees UNAVAILABLE from the plugin, not a DEADLINE_EXCEEDED of its own.
Nothing crashes the server.

Requests are parsed here rather than by grpc (which answers a request that does not parse with
UNKNOWN and a protobuf exception): each method's deserializer turns unparsable bytes into
:class:`_Malformed`, which the method answers with INVALID_ARGUMENT.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from sealbox import __version__
from sealbox._proto import kmsv1beta1_api_pb2 as v1
from sealbox._proto import kmsv2_api_pb2 as v2
from sealbox.errors import BackendRejected, BackendUnavailable, SealboxError
from sealbox.kms.plugin.service import InvalidRequest, PluginService

__all__ = ["V1beta1Servicer", "V2Servicer", "add_servicers"]

log = logging.getLogger("sealbox.kms.grpc")
T = TypeVar("T")
Q = TypeVar("Q", bound=Message)  # a request message
R = TypeVar("R", bound=Message)  # a response message
Context = grpc.aio.ServicerContext[object, object]
_DETAIL_CHARS = 300
V2_SERVICE = "v2.KeyManagementService"
V1BETA1_SERVICE = "v1beta1.KeyManagementService"


@dataclass(frozen=True, slots=True)
class _Malformed:
    """A request whose bytes do not parse as its method's message; ``problem`` says which."""

    problem: str


def _parser(message: type[Q]) -> Callable[[bytes], Q | _Malformed]:
    problem = f"the request is not a valid {message.DESCRIPTOR.full_name} protobuf message"

    def parse(data: bytes) -> Q | _Malformed:
        try:
            return message.FromString(data)
        except DecodeError:
            return _Malformed(problem)

    return parse


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
    except BackendUnavailable as exc:  # an unhealthy Status and a refused credential too
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


async def _refuse(
    service: PluginService, operation: str, context: Context, request: _Malformed
) -> NoReturn:
    service.refuse_malformed(operation, request.problem)
    await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, request.problem)


def _time_left(context: Context) -> float | None:
    """Seconds before the call's deadline; ``None`` when the caller set none (grpc's stubs say
    ``float``, but grpc.aio answers ``None`` then)."""
    left: float | None = context.time_remaining()
    return left


class V2Servicer:
    """The KMS v2 API."""

    def __init__(self, service: PluginService) -> None:
        self._service = service

    async def Status(  # noqa: N802 - gRPC method name
        self, request: v2.StatusRequest, context: Context
    ) -> v2.StatusResponse:
        status = await _answer("Status", context, self._service.status())
        return v2.StatusResponse(
            version=status.version, healthz=status.healthz, key_id=status.key_id
        )

    async def Encrypt(  # noqa: N802
        self, request: v2.EncryptRequest, context: Context
    ) -> v2.EncryptResponse:
        work = self._service.encrypt(request.plaintext, request.uid, timeout=_time_left(context))
        wrapped = await _answer("Encrypt", context, work)
        annotations = dict(wrapped.annotations)
        return v2.EncryptResponse(
            ciphertext=wrapped.ciphertext, key_id=wrapped.key_id, annotations=annotations
        )

    async def Decrypt(  # noqa: N802
        self, request: v2.DecryptRequest, context: Context
    ) -> v2.DecryptResponse:
        work = self._service.decrypt(
            request.ciphertext,
            request.key_id,
            dict(request.annotations),
            request.uid,
            timeout=_time_left(context),
        )
        return v2.DecryptResponse(plaintext=await _answer("Decrypt", context, work))

    def handlers(self) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
        return _handlers(self._service, self, v2, ("Status", "Encrypt", "Decrypt"))


class V1beta1Servicer:
    """The deprecated KMS v1 API, for clusters that still read v1 data."""

    def __init__(self, service: PluginService) -> None:
        self._service = service

    async def Version(  # noqa: N802
        self, request: v1.VersionRequest, context: Context
    ) -> v1.VersionResponse:
        return v1.VersionResponse(
            version="v1beta1", runtime_name="sealbox", runtime_version=__version__
        )

    async def Encrypt(  # noqa: N802
        self, request: v1.EncryptRequest, context: Context
    ) -> v1.EncryptResponse:
        work = self._service.encrypt_v1(request.plain, timeout=_time_left(context))
        return v1.EncryptResponse(cipher=await _answer("Encrypt", context, work))

    async def Decrypt(  # noqa: N802
        self, request: v1.DecryptRequest, context: Context
    ) -> v1.DecryptResponse:
        work = self._service.decrypt_v1(request.cipher, timeout=_time_left(context))
        return v1.DecryptResponse(plain=await _answer("Decrypt", context, work))

    def handlers(self) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
        return _handlers(self._service, self, v1, ("Version", "Encrypt", "Decrypt"))


def _handlers(
    service: PluginService, servicer: object, messages: types.ModuleType, methods: tuple[str, ...]
) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
    """Each method's handler: ``Foo`` takes ``messages.FooRequest`` and answers ``FooResponse``;
    a request that does not parse is refused before the method sees it."""
    return {
        name: _handler(
            _refusing_malformed(service, name, getattr(servicer, name)),
            getattr(messages, f"{name}Request"),
            getattr(messages, f"{name}Response"),
        )
        for name in methods
    }


def _refusing_malformed(
    service: PluginService, operation: str, method: Callable[[Any, Context], Awaitable[R]]
) -> Callable[[Any, Context], Awaitable[R]]:
    async def handle(request: Any, context: Context) -> R:
        if isinstance(request, _Malformed):
            await _refuse(service, operation, context, request)
        return await method(request, context)

    return handle


def _handler(
    method: Callable[[Any, Context], Awaitable[R]], request: type[Message], response: type[R]
) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        method,
        request_deserializer=_parser(request),
        response_serializer=response.SerializeToString,
    )


def _add(
    server: grpc.aio.Server, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
) -> None:
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service, dict(handlers)),)
    )
    server.add_registered_method_handlers(service, handlers)


def add_servicers(server: grpc.aio.Server, service: PluginService, *, v1beta1: bool) -> None:
    _add(server, V2_SERVICE, V2Servicer(service).handlers())
    if v1beta1:
        _add(server, V1BETA1_SERVICE, V1beta1Servicer(service).handlers())
