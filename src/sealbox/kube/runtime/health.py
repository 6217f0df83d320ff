"""``/healthz``, ``/readyz`` and ``/metrics`` on one small HTTP port (no web framework needed).

``/healthz`` (liveness) is 200 while the process serves; ``/readyz`` asks the manager, which says
ready once a leader's caches have synced, or at once for a standby, which is ready to take over.
Neither probe talks to the apiserver: a slow apiserver must not get every replica restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["HealthServer"]

_MAX_REQUEST_LINE = 4096
_READ_TIMEOUT_SECONDS = 5.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    """Serves the probes and metrics on ``host:port`` (port 0: any free one, see ``port``)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ready: Callable[[], str | None],
        metrics: Callable[[], bytes],
    ) -> None:
        """``ready()`` returns None when ready, else the reason it is not."""
        self.host = host
        self.port = port
        self._ready = ready
        self._metrics = metrics
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

    def respond(self, method: str, path: str) -> tuple[int, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, b"method not allowed\n"
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return 200, self._metrics()
        if route == "/healthz":
            return 200, b"ok\n"
        if route == "/readyz":
            reason = self._ready()
            return (200, b"ok\n") if reason is None else (503, f"not ready: {reason}\n".encode())
        return 404, b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)
            parts = line[:_MAX_REQUEST_LINE].decode("latin-1").split()
            while (await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)).strip():
                pass
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            status, body = self.respond(method, path)
            kind = "text/plain; version=0.0.4" if path.startswith("/metrics") else "text/plain"
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\n"
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
