"""Replicas of ``sealbox controller sealing`` as subprocesses, started as a Deployment would.

Each replica is the real command line (``python -m sealbox controller sealing ...``) with its own
identity, HTTP port and metrics port, a short Lease (4 s, renew 3 s, retry 0.5 s) so tests of
failover stay quick, and 2048-bit keys. Its log goes to the test's directory.
"""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.integration.processes import ManagedProcess, free_port, port_open, wait_until

__all__ = ["SealingReplica"]

REPO = Path(__file__).resolve().parents[3]
START_SECONDS = 60.0


@dataclass
class SealingReplica:
    identity: str
    http_port: int
    metrics_port: int
    process: ManagedProcess

    @classmethod
    def start(
        cls,
        identity: str,
        *,
        kubeconfig: Path,
        namespace: str,
        directory: Path,
        flags: list[str],
        env: dict[str, str] | None = None,
        listen_host: str = "127.0.0.1",
    ) -> SealingReplica:
        """``listen_host`` 0.0.0.0 also serves the HTTP endpoints on the host's other addresses,
        where the apiserver's service proxy can reach them (``tests/integration/service_endpoint``).
        """
        http_port, metrics_port = free_port(), free_port()
        argv = [
            sys.executable,
            "-m",
            "sealbox",
            "controller",
            "sealing",
            f"--kubeconfig={kubeconfig}",
            f"--key-namespace={namespace}",
            "--no-all-namespaces",
            "--key-size=2048",
            f"--leader-election-identity={identity}",
            "--leader-election-lease-duration=4s",
            "--leader-election-renew-deadline=3s",
            "--leader-election-retry-period=500ms",
            f"--listen-addr={listen_host}:{http_port}",
            f"--listen-metrics-addr=127.0.0.1:{metrics_port}",
            "--log-level=info",
            *flags,
        ]
        environ = {
            "PYTHONPATH": str(REPO / "src"),
            "POD_NAMESPACE": "",
            "POD_NAME": "",
            **(env or {}),
        }
        process = ManagedProcess(
            argv, log_path=directory / f"{identity}.log", env=environ, cwd=REPO
        )
        replica = cls(identity, http_port, metrics_port, process.start())
        wait_until(
            lambda: port_open(http_port) or not replica.process.running,
            timeout=START_SECONDS,
            what=f"{identity} serving",
        )
        assert replica.process.running, replica.process.log_tail()
        return replica

    def get(self, path: str, *, metrics: bool = False) -> tuple[int, bytes]:
        port = self.metrics_port if metrics else self.http_port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                return int(answer.status), bytes(answer.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def cert(self) -> bytes | None:
        status, body = self.get("/v1/cert.pem")
        return body if status == 200 else None

    def leading(self) -> bool:
        status, body = self.get("/metrics", metrics=True)
        return status == 200 and b'sealbox_controller_leader{controller="sealing"} 1.0' in body
