"""A tiny HTTP endpoint for Prometheus and kubelet probes (no web framework needed).

``/metrics`` Prometheus text; ``/healthz`` and ``/readyz`` 200 only while the primary backend
passes its probe (503 with the reason otherwise); ``/livez`` 200 while the server runs, whatever
the backend says, so a disabled key does not get the plugin restarted in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib

from sealbox.kms.plugin.health import HealthMonitor
from sealbox.kms.plugin.metrics import Metrics

__all__ = ["HealthHTTPServer"]

_MAX_REQUEST_LINE = 4096
_READ_TIMEOUT_SECONDS = 5.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthHTTPServer:
    def __init__(self, host: str, port: int, *, health: HealthMonitor, metrics: Metrics) -> None:
        self.host = host
        self.port = port
        self._health = health
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sockets = self._server.sockets
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        route = path.split("?", 1)[0]
        if route == "/metrics":
            return 200, "text/plain; version=0.0.4", self._metrics.render()
        if route == "/livez":
            return 200, "text/plain", b"ok\n"
        if route in ("/healthz", "/readyz"):
            snapshot = self._health.snapshot
            if snapshot.healthy:
                return 200, "text/plain", b"ok\n"
            return 503, "text/plain", f"unhealthy: {snapshot.error}\n".encode()
        return 404, "text/plain", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)
            parts = line[:_MAX_REQUEST_LINE].decode("latin-1").split()
            while (await asyncio.wait_for(reader.readline(), _READ_TIMEOUT_SECONDS)) not in (
                b"\r\n",
                b"\n",
                b"",
            ):
                pass
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
            status, content_type, body = self._respond(method, path)
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
