"""Endpoints, gRPC channels, failover and error translation for :mod:`sealbox.storage.etcd`.

Every call goes to ``/etcdserverpb.KV/<Method>`` with our own wire-compatible messages
(:mod:`sealbox._proto.etcd_kv_pb2`), the configured timeout as its deadline and no
``wait_for_ready``, so a refused connection fails at once instead of at the deadline.

Failover is by endpoint, in order, starting from the last one that answered::

    read  (Range)            unreachable -> next endpoint ... none left -> BackendUnavailable
    write (Put/Delete/Txn)   endpoint not yet confirmed? probe it with a count-only Range first
                             (unreachable -> next endpoint; nothing was sent), then send the
                             write once: if that fails in transit the outcome is unknown, so it
                             is never resent, and BackendUnavailable says to re-read first.

All grpc errors are translated here, once, naming the endpoint(s) and the etcd key where one is
involved. Messages never carry a value: etcd's own error details never echo one, and they are
trimmed anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import grpc
from google.protobuf.message import Message

from sealbox._proto import etcd_kv_pb2 as pb
from sealbox.errors import (
    BackendUnavailable,
    EtcdCompacted,
    EtcdError,
    EtcdRequestTooLarge,
    EtcdResponseTooLarge,
    InputError,
    SealboxError,
)

__all__ = [
    "DEFAULT_PORT",
    "DELETE_RANGE",
    "PUT",
    "RANGE",
    "TXN",
    "Endpoint",
    "Method",
    "Transport",
    "credentials",
    "of_key",
    "of_keys",
    "parse_endpoint",
    "show_key",
]

DEFAULT_PORT = 2379
_DETAIL_CHARS = 240
_CONNECT_FAILED = "failed to connect to all addresses; last error: "
_KEY_CHARS = 120
_UNREACHABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)

_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)


@dataclass(frozen=True, slots=True)
class Method(Generic[_Req, _Resp]):
    """One ``etcdserverpb.KV`` method and the message type of its answers."""

    name: str
    response: type[_Resp]

    @property
    def path(self) -> str:
        return f"/etcdserverpb.KV/{self.name}"


RANGE: Method[pb.RangeRequest, pb.RangeResponse] = Method("Range", pb.RangeResponse)
PUT: Method[pb.PutRequest, pb.PutResponse] = Method("Put", pb.PutResponse)
DELETE_RANGE: Method[pb.DeleteRangeRequest, pb.DeleteRangeResponse] = Method(
    "DeleteRange", pb.DeleteRangeResponse
)
TXN: Method[pb.TxnRequest, pb.TxnResponse] = Method("Txn", pb.TxnResponse)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ``--endpoints`` entry: as written, the gRPC target, and its scheme ("" if bare)."""

    text: str
    target: str
    scheme: str


def parse_endpoint(text: str) -> Endpoint:
    """``http://h:p``, ``https://h:p`` or bare ``h:p`` (port defaults to 2379)."""
    raw = text.strip()
    bad = f"etcd endpoint {raw!r}"
    if not raw:
        raise InputError("an etcd endpoint is empty; give host:port or http(s)://host:port")
    try:
        parts = urlsplit(raw if "://" in raw else f"//{raw}")
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise InputError(f"{bad} is not a valid address ({exc})") from None
    if parts.scheme not in ("", "http", "https"):
        raise InputError(f"{bad}: scheme {parts.scheme!r} is not supported; use http or https")
    if not parts.hostname or parts.username or parts.password:
        raise InputError(f"{bad} has no host (or carries credentials); give host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError(f"{bad} has a path or query; give only scheme://host:port")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Endpoint(text=raw, target=f"{host}:{port}", scheme=parts.scheme)


def _read_pem(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot read ({exc.strerror or exc})") from None


def credentials(
    cacert: Path | None, cert: Path | None, key: Path | None
) -> grpc.ChannelCredentials:
    """TLS credentials: ``cacert`` (else the system roots) and an optional client pair."""
    root = _read_pem(cacert, "--cacert") if cacert is not None else None
    chain = _read_pem(cert, "--cert") if cert is not None else None
    private = _read_pem(key, "--key") if key is not None else None
    return grpc.ssl_channel_credentials(
        root_certificates=root, private_key=private, certificate_chain=chain
    )


def show_key(key: bytes) -> str:
    """An etcd key for a message: text where it is text, escapes elsewhere, trimmed."""
    text = key.decode("utf-8", errors="backslashreplace")
    return repr(text if len(text) <= _KEY_CHARS else text[:_KEY_CHARS] + "...")


def of_key(key: bytes) -> str:
    """`` of key '/a'``: what a message says an operation was about."""
    return f" of key {show_key(key)}"


def of_keys(keys: Sequence[bytes]) -> str:
    """`` of key '/a'`` or `` of 3 keys from '/a'``."""
    if len(keys) == 1:
        return of_key(keys[0])
    return f" of {len(keys)} keys from {show_key(keys[0])}" if keys else ""


def _status(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or ""
    details = details.removeprefix(_CONNECT_FAILED).replace("\n", " ")
    return code, details[:_DETAIL_CHARS]


class Transport:
    """Channels to the endpoints (made lazily), failover and grpc error translation."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        tls: grpc.ChannelCredentials | None,
        client_cert: bool,
        timeout_seconds: float,
        max_response_bytes: int,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._tls = tls
        self._client_cert = client_cert
        self._timeout = timeout_seconds
        self._options = [("grpc.max_receive_message_length", max_response_bytes)]
        self._channels: dict[int, grpc.Channel] = {}
        self._stubs: dict[tuple[int, str], grpc.UnaryUnaryMultiCallable[Message, Message]] = {}
        self._current = 0
        self._confirmed: int | None = None
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channels, self._channels = list(self._channels.values()), {}
            self._stubs = {}
        for channel in channels:
            channel.close()

    def read(self, method: Method[_Req, _Resp], request: _Req, *, about: str = "") -> _Resp:
        """Send a read, failing over to the next endpoint while endpoints are unreachable."""
        failures: list[str] = []
        for index in self._order():
            try:
                response = self._send(index, method, request)
            except grpc.RpcError as exc:
                code, detail = _status(exc)
                if code is grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in detail:
                    raise EtcdResponseTooLarge(
                        f"etcd at {self._endpoints[index].text}: the answer to {method.name}"
                        f"{about} is larger than the client accepts ({detail}); "
                        "raise max_response_bytes"
                    ) from None
                if code not in _UNREACHABLE:
                    raise self._refused(f"{method.name}{about}", index, code, detail) from None
                failures.append(self._failure(index, code, detail))
                self._forget(index)
                continue
            self._succeeded(index)
            return response
        raise self._unavailable(method.name, failures)

    def write(
        self,
        method: Method[_Req, _Resp],
        request: _Req,
        *,
        about: str = "",
        probe_key: bytes = b"\x00",
    ) -> _Resp:
        """Send a write exactly once, to the first endpoint that answers a probe.

        The probe is a count-only Range of ``probe_key`` (one the write touches, so an etcd
        with RBAC lets it through); it runs only when the endpoint has not answered since it
        was (re)connected. ``about`` names the keys in messages (`` of key '/a'``).
        """
        failures: list[str] = []
        for index in self._order():
            if self._confirmed != index:
                probe = pb.RangeRequest(key=probe_key, count_only=True)
                try:
                    self._send(index, RANGE, probe)
                except grpc.RpcError as exc:
                    code, detail = _status(exc)
                    if code in _UNREACHABLE:
                        failures.append(self._failure(index, code, detail))
                        self._forget(index)
                        continue
                    # It answered (even if it refused the probe): the connection works.
            try:
                response = self._send(index, method, request)
            except grpc.RpcError as exc:
                code, detail = _status(exc)
                if code in _UNREACHABLE:
                    self._forget(index)
                    raise BackendUnavailable(
                        f"etcd at {self._endpoints[index].text} did not confirm {method.name}"
                        f"{about} (timeout {self._timeout:g}s; {code.name}: {detail}): it may "
                        "or may not have been applied; read the key(s) again before retrying"
                    ) from None
                raise self._refused(f"{method.name}{about}", index, code, detail) from None
            self._succeeded(index)
            return response
        raise self._unavailable(method.name, failures)

    # internals

    def _order(self) -> list[int]:
        with self._lock:
            start = self._current
        count = len(self._endpoints)
        return [(start + step) % count for step in range(count)]

    def _send(self, index: int, method: Method[_Req, _Resp], request: _Req) -> _Resp:
        response = self._stub(index, method)(request, timeout=self._timeout, wait_for_ready=False)
        assert isinstance(response, method.response)
        return response

    def _stub(
        self, index: int, method: Method[_Req, _Resp]
    ) -> grpc.UnaryUnaryMultiCallable[Message, Message]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the etcd client is closed")
            stub = self._stubs.get((index, method.name))
            if stub is not None:
                return stub
            channel = self._channels.get(index)
            if channel is None:
                target = self._endpoints[index].target
                if self._tls is not None:
                    channel = grpc.secure_channel(target, self._tls, options=self._options)
                else:
                    channel = grpc.insecure_channel(target, options=self._options)
                self._channels[index] = channel
            stub = channel.unary_unary(
                method.path,
                request_serializer=_serialize,
                response_deserializer=method.response.FromString,
            )
            self._stubs[(index, method.name)] = stub
            return stub

    def _forget(self, index: int) -> None:
        """Drop a failed endpoint's channel (a new one reconnects without backoff)."""
        with self._lock:
            channel = self._channels.pop(index, None)
            self._stubs = {k: v for k, v in self._stubs.items() if k[0] != index}
            if self._confirmed == index:
                self._confirmed = None
        if channel is not None:
            channel.close()

    def _succeeded(self, index: int) -> None:
        with self._lock:
            self._current = index
            self._confirmed = index

    def _failure(self, index: int, code: grpc.StatusCode, detail: str) -> str:
        return f"{self._endpoints[index].text} ({code.name}: {detail})"

    def _unavailable(self, operation: str, failures: Sequence[str]) -> BackendUnavailable:
        if self._tls is None:
            hint = "is etcd running there, and does it need https:// and --cacert/--cert/--key?"
        elif not self._client_cert:
            hint = (
                "is etcd running there? etcd usually requires a client certificate: give "
                "--cert and --key (and --cacert for its CA)"
            )
        else:
            hint = "is etcd running there, and do --cacert/--cert/--key match its certificates?"
        return BackendUnavailable(
            f"etcd is unreachable for {operation} (timeout {self._timeout:g}s per endpoint): "
            f"{'; '.join(failures)}; {hint}"
        )

    def _refused(self, what: str, index: int, code: grpc.StatusCode, detail: str) -> SealboxError:
        where = f"etcd at {self._endpoints[index].text}"
        status = f"({code.name}: {detail})"
        if code is grpc.StatusCode.OUT_OF_RANGE and "compacted" in detail:
            return EtcdCompacted(
                f"{where} refused {what} {status}: that revision is compacted away; read "
                "again at the current revision (a scan resumes after its last key seen)"
            )
        too_large = "too large" in detail or "larger than max" in detail
        if too_large and code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ):
            return EtcdRequestTooLarge(
                f"{where} refused {what} {status}: the request is larger than etcd accepts "
                "(--max-request-bytes, 1.5 MiB by default); send fewer or smaller values"
            )
        if code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.OUT_OF_RANGE,
            grpc.StatusCode.FAILED_PRECONDITION,
        ):
            return InputError(f"{where} refused {what} {status}")
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return EtcdError(
                f"{where} refused {what} {status}: etcd auth is on; Sealbox authenticates by "
                "client certificate (--cert/--key), whose CN must be a user allowed these keys"
            )
        return EtcdError(f"{where} failed {what} {status}")


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
