"""A loopback TCP relay that tests can cut and restore, to take a real server away and back.

A dev server that keeps its state in memory (OpenBao ``-dev``, moto) loses everything when it
stops; putting this proxy in front lets a test simulate an outage while the server keeps its keys.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.integration.processes import free_port

__all__ = ["LoopbackProxy"]


def _cut(sock: socket.socket) -> None:
    """Shut down (which wakes a thread blocked in recv) and close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class LoopbackProxy:
    """A TCP relay ``127.0.0.1:port`` → ``127.0.0.1:target_port`` that can be cut and restored."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._accepter: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Accept connections again (on the same port)."""
        if self._listener is not None:
            return
        listener = socket.create_server(("127.0.0.1", self.port))  # sets SO_REUSEADDR
        listener.settimeout(0.05)
        self._stopping.clear()
        self._listener = listener
        self._accepter = threading.Thread(
            target=self._accept_loop, args=(listener,), name="proxy-accept", daemon=True
        )
        self._accepter.start()

    def stop(self) -> None:
        """Refuse new connections and reset every open one; returns once that is true."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        if self._accepter is not None:
            self._accepter.join(timeout=5)
            self._accepter = None
        listener.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            _cut(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _cut(downstream)
                continue
            downstream.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._stopping.is_set():
                    _cut(downstream)
                    _cut(upstream)
                    return
                self._connections.update((downstream, upstream))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(
                    target=self._pump, args=(source, sink), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.difference_update((source, sink))
            _cut(source)
            _cut(sink)
