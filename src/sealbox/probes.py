"""A tiny HTTP server for Prometheus and kubelet probes, shared by every long-running process.

No web framework: the probes are a handful of GET routes, answered from memory, one request per
connection. Each process supplies its routes (``/metrics``, ``/healthz``, ``/readyz``, ...) as
one function from the path (query dropped) to a :data:`Response`, or None for 404; the server
reads the request line and headers within a deadline, answers GET and HEAD, and refuses the rest
with 405. A probe must never block on a backend or the apiserver: the route functions answer from
state the process already holds.

A few endpoints take a body (the sealing controller's ``/v1/verify`` and ``/v1/rotate``): a
server given a ``handler`` reads the body its ``Content-Length`` announces (at most
``max_body`` bytes, else 413; a body cut short is 400, a chunked one 411) and hands the handler
a :class:`Request` with the method, path, headers and body; a handler that returns None leaves
the request to the GET routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["MAX_BODY_BYTES", "PLAIN", "PROMETHEUS", "ProbeServer", "Reply", "Request", "Response"]

PLAIN = "text/plain"
PROMETHEUS = "text/plain; version=0.0.4"

Response = tuple[int, str, bytes]
"""Status, Content-Type and body."""

Reply = Response | tuple[int, str, bytes, Mapping[str, str]]
"""What a :data:`Handler` answers: a :data:`Response`, optionally with extra headers."""

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
_MAX_REQUEST_LINE = 4096
_MAX_HEADERS = 100
_READ_TIMEOUT_SECONDS = 5.0
_BODY_TIMEOUT_SECONDS = 30.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a handler sees it: header names lower-case, the query dropped."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = field(default=b"", repr=False)


Handler = Callable[[Request], Awaitable[Reply | None]]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ProbeServer:
    """Serves ``routes`` on ``host:port`` (port 0: any free one, see ``port`` after start)."""

    def __init__(
        self,
        host: str,
        port: int,
        routes: Callable[[str], Response | None],
        *,
        handler: Handler | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        """``handler`` (optional) sees every request first, body included; ``max_body`` caps
        the body it may receive."""
        self.host = host
        self.port = port
        self._routes = routes
        self._handler = handler
        self._max_body = max_body
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        if self._server.sockets:
            self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def answer(self, method: str, path: str) -> Response:
        """What a request gets (also for tests, without a socket)."""
        if method not in ("GET", "HEAD"):
            return 405, PLAIN, b"method not allowed\n"
        response = self._routes(path.split("?", 1)[0])
        return response if response is not None else (404, PLAIN, b"not found\n")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method = ""
        try:
            try:
                request = await self._read(reader, writer)
                method = request.method
                reply = await self._reply(request)
            except _BadRequest as exc:
                reply = exc.status, PLAIN, f"{exc}\n".encode()
            except (TimeoutError, ConnectionError):
                raise
            except Exception:  # a bug in a route: answer 500, keep serving other requests
                _log.exception("answering an HTTP request failed")
                reply = 500, PLAIN, b"internal error\n"
            status, content_type, body = reply[:3]
            extra = reply[3] if len(reply) == 4 else {}
            head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in extra.items())
            head += "Connection: close\r\n\r\n"
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _reply(self, request: Request) -> Reply:
        if self._handler is not None:
            reply = await self._handler(request)
            if reply is not None:
                return reply
        return self.answer(request.method, request.path)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request:
        line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)
        parts = line[:_MAX_REQUEST_LINE].decode("latin-1").split()
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            header = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)
            if not header.strip():
                break
            name, _, value = header[:_MAX_REQUEST_LINE].decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise _BadRequest(400, "too many headers")
        method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
        path = path.split("?", 1)[0]
        if self._handler is None:
            return Request(method, path, headers)  # nothing reads a body: leave it unread
        return Request(method, path, headers, await self._body(reader, writer, headers))

    async def _body(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: Mapping[str, str]
    ) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest(411, "send the body with a Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest(400, "Content-Length is not a number") from None
        if length < 0:
            raise _BadRequest(400, "Content-Length is negative")
        if length > self._max_body:
            raise _BadRequest(413, f"body larger than {self._max_body} bytes")
        if length and headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        try:
            return await asyncio.wait_for(reader.readexactly(length), _BODY_TIMEOUT_SECONDS)
        except (asyncio.IncompleteReadError, TimeoutError):
            raise _BadRequest(400, "the body ended before its Content-Length") from None
