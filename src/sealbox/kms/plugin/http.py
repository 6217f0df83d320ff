"""The plugin's endpoint for Prometheus and kubelet probes (a :class:`sealbox.probes.ProbeServer`).

``/metrics`` Prometheus text; ``/healthz`` and ``/readyz`` 200 only while the primary backend
passes its probe (503 with the reason otherwise); ``/livez`` 200 while the server runs, whatever
the backend says, so a disabled key does not get the plugin restarted in a loop.
"""

from __future__ import annotations

from sealbox.kms.plugin.health import HealthMonitor
from sealbox.kms.plugin.metrics import Metrics
from sealbox.probes import PLAIN, PROMETHEUS, ProbeServer, Response

__all__ = ["HealthHTTPServer"]


class HealthHTTPServer(ProbeServer):
    def __init__(self, host: str, port: int, *, health: HealthMonitor, metrics: Metrics) -> None:
        super().__init__(host, port, self._route)
        self._health = health
        self._metrics = metrics

    def _route(self, route: str) -> Response | None:
        if route == "/metrics":
            return 200, PROMETHEUS, self._metrics.render()
        if route == "/livez":
            return 200, PLAIN, b"ok\n"
        if route in ("/healthz", "/readyz"):
            snapshot = self._health.snapshot
            if snapshot.healthy:
                return 200, PLAIN, b"ok\n"
            return 503, PLAIN, f"unhealthy: {snapshot.error}\n".encode()
        return None
