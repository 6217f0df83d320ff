"""An HTTP proxy in front of the real apiserver that answers with faults first, then passes on.

Clients speak plain HTTP to it on loopback; it forwards to the apiserver over TLS (verifying the
apiserver's certificate) and records every exchange: method, path, when it arrived, the status
it got and the exact response bytes it sent back. Queued :class:`Fault` answers (a 429 with
``Retry-After``, a 503 Status, a dropped connection) are served instead of forwarding, in order,
to the requests they match. It asks the apiserver for uncompressed answers, so what it records
is what a client would see in plain text: a test can show that a value never crossed the wire.

Answers are buffered whole (no streaming), so a watch cannot go through it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Exchange", "Fault", "FaultProxy", "running_fault_proxy"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


@dataclass(frozen=True)
class Fault:
    """One answer served instead of the apiserver's (``status`` 0: drop the connection)."""

    status: int
    retry_after: str | None = None
    method: str | None = None  # only requests with this method (None: any)

    def body(self) -> bytes:
        reason = {410: "Expired", 429: "TooManyRequests", 503: "ServiceUnavailable"}.get(
            self.status, "Failure"
        )
        status: dict[str, object] = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
        status |= {"message": f"injected {self.status}", "reason": reason, "code": self.status}
        return json.dumps(status).encode()


@dataclass(frozen=True)
class Exchange:
    """One request the proxy saw and what it answered."""

    method: str
    path: str
    arrived: float  # time.monotonic()
    status: int  # 0: the connection was dropped
    body: bytes
    faulted: bool


@dataclass
class FaultProxy:
    """The proxy's state: faults still to serve, exchanges seen so far (thread-safe)."""

    upstream: str
    ca_file: Path
    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, fault: Fault, times: int = 1) -> None:
        with self.lock:
            self.faults.extend([fault] * times)

    def seen(self, method: str | None = None) -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if method is None or e.method == method]

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.method in (None, method):
                    return self.faults.pop(index)
        return None

    def record(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.upstream)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        connection = http.client.HTTPSConnection(
            target.hostname or "127.0.0.1", target.port, context=context, timeout=30
        )
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the exchanges are recorded instead."""

        def _serve(self) -> None:
            arrived = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy.take_fault(self.command)
            if fault is not None and fault.status == 0:
                proxy.record(Exchange(self.command, self.path, arrived, 0, b"", True))
                self.close_connection = True
                return
            if fault is not None:
                answer = fault.body()
                headers = [("Content-Type", "application/json")]
                if fault.retry_after is not None:
                    headers.append(("Retry-After", fault.retry_after))
                status = fault.status
            else:
                forwarded = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in _HOP | {"host", "accept-encoding", "content-length"}
                }
                status, headers, answer = proxy.forward(self.command, self.path, forwarded, body)
                headers = [(k, v) for k, v in headers if k.lower() not in _HOP | {"content-length"}]
            proxy.record(Exchange(self.command, self.path, arrived, status, answer, bool(fault)))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - stdlib names

    return Handler


@contextmanager
def running_fault_proxy(upstream: str, ca_file: Path) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` listening on a free loopback port until the block ends."""
    proxy = FaultProxy(upstream, ca_file)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
