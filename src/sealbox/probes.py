"""A tiny HTTP server for Prometheus and kubelet probes, shared by every long-running process.

No web framework: the probes are a handful of GET routes, answered from memory, one request per
connection. Each process supplies its routes (``/metrics``, ``/healthz``, ``/readyz``, ...) as
one function from the path (query dropped) to a :data:`Response`, or None for 404; the server
reads the request line and headers within a deadline, answers GET and HEAD, and refuses the rest
with 405. A probe must never block on a backend or the apiserver: the route functions answer from
state the process already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["PLAIN", "PROMETHEUS", "ProbeServer", "Response"]

PLAIN = "text/plain"
PROMETHEUS = "text/plain; version=0.0.4"

Response = tuple[int, str, bytes]
"""Status, Content-Type and body."""

_MAX_REQUEST_LINE = 4096
_READ_TIMEOUT_SECONDS = 5.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class ProbeServer:
    """Serves ``routes`` on ``host:port`` (port 0: any free one, see ``port`` after start)."""

    def __init__(self, host: str, port: int, routes: Callable[[str], Response | None]) -> None:
        self.host = host
        self.port = port
        self._routes = routes
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
        try:
            line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)
            parts = line[:_MAX_REQUEST_LINE].decode("latin-1").split()
            while (await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)).strip():
                pass  # the headers: nothing in them changes the answer
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            status, content_type, body = self.answer(method, path)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
