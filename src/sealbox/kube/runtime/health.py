"""``/healthz``, ``/readyz`` and ``/metrics`` of a controller (:class:`sealbox.probes.ProbeServer`).

``/healthz`` (liveness) is 200 while the process serves; ``/readyz`` asks the manager, which says
ready once a leader's caches have synced, or at once for a standby, which is ready to take over.
Neither probe talks to the apiserver: a slow apiserver must not get every replica restarted.
"""

from __future__ import annotations

from collections.abc import Callable

from sealbox.probes import PLAIN, PROMETHEUS, ProbeServer, Response

__all__ = ["HealthServer"]


class HealthServer(ProbeServer):
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
        super().__init__(host, port, self._route)
        self._ready = ready
        self._metrics = metrics

    def _route(self, route: str) -> Response | None:
        if route == "/metrics":
            return 200, PROMETHEUS, self._metrics()
        if route == "/healthz":
            return 200, PLAIN, b"ok\n"
        if route == "/readyz":
            reason = self._ready()
            return (
                (200, PLAIN, b"ok\n")
                if reason is None
                else (503, PLAIN, f"not ready: {reason}\n".encode())
            )
        return None
