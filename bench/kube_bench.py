"""Enumerating 10,000 Secrets: Sealbox's metadata-only list versus ``kubectl get secrets -A``.

    .venv/bin/python -m bench.kube_bench [--count 10000] [--repeat 3] [--concurrency 48]

Starts etcd and a real kube-apiserver (the test fixture's, from ``tests/integration``) in a temp
dir, creates COUNT Secrets of about 1 KiB in 20 namespaces with concurrent async creates, then,
in the same run, each as its own process (start-up included, output discarded):

* ``sealbox.kube.list_metadata`` over every namespace (PartialObjectMetadataList, pages of 500)
* ``kubectl get secrets -A -o json`` (kubectl's own paging, also 500; its discovery cache warm)

Wall time is the median of ``--repeat`` runs straight to the apiserver. Bytes received are what
came back over the wire (TLS records, compressed as the apiserver chose for each client's
``Accept-Encoding``), counted by a TCP relay one run of each goes through. Targets: Sealbox no
slower than kubectl, and at least 5x fewer bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import yaml
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from sealbox.kube import KubeTarget, async_client
from tests.integration.etcd_server import running_etcd
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver

NAMESPACES = 20
LIST_SCRIPT = """\
import sys
from pathlib import Path
from lightkube.resources.core_v1 import Secret
from sealbox.kube import KubeTarget, list_metadata, sync_client
with sync_client(KubeTarget(Path(sys.argv[1]))) as client:
    print(sum(1 for _ in list_metadata(client, Secret)))
"""


async def _seed(kubeconfig: Path, count: int, concurrency: int) -> None:
    async with async_client(KubeTarget(kubeconfig), timeout=60) as client:
        for index in range(NAMESPACES):
            await client.create(Namespace(metadata=ObjectMeta(name=f"ns-{index}")))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(count):
            queue.put_nowait(index)

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                blob = base64.b64encode(os.urandom(700)).decode()
                metadata = ObjectMeta(
                    name=f"secret-{index:06d}",
                    namespace=f"ns-{index % NAMESPACES}",
                    labels={"app": f"app-{index % 10}"},
                    annotations={"owner": "bench"},
                )
                await client.create(Secret(metadata=metadata, data={"blob": blob}))

        await asyncio.gather(*(worker() for _ in range(concurrency)))


class CountingRelay:
    """A TCP relay to the apiserver that counts the bytes flowing back to the client."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.received = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.received = 0

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink, counted in (
                (downstream, upstream, False),
                (upstream, downstream, True),
            ):
                threading.Thread(
                    target=self._pump, args=(source, sink, counted), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(262144):
                if counted:
                    with self._lock:
                        self.received += len(chunk)
                sink.sendall(chunk)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _kubeconfig(server: KubeApiserver, url: str, path: Path) -> Path:
    document = server.kubeconfig_document("admin")
    document["clusters"][0]["cluster"]["server"] = url
    path.write_text(yaml.safe_dump(document))
    return path


def _commands(server: KubeApiserver, kubeconfig: Path, cache: Path) -> dict[str, list[str]]:
    return {
        "sealbox list_metadata (PartialObjectMetadataList)": [
            sys.executable,
            "-c",
            LIST_SCRIPT,
            str(kubeconfig),
        ],
        "kubectl get secrets -A -o json": [
            str(server.kubectl_path),
            f"--kubeconfig={kubeconfig}",
            f"--cache-dir={cache}",
            "get",
            "secrets",
            "-A",
            "-o",
            "json",
        ],
    }


def _run(argv: list[str]) -> tuple[float, bytes]:
    """Wall seconds of one child process and its stdout."""
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {result.stderr.decode()[-2000:]}")
    return elapsed, result.stdout


def _count(name: str, stdout: bytes) -> int:
    return int(stdout) if name.startswith("sealbox") else len(json.loads(stdout)["items"])


@contextlib.contextmanager
def _cluster(directory: Path) -> Iterator[KubeApiserver]:
    (directory / "etcd").mkdir()
    with (
        running_etcd(directory / "etcd") as etcd,
        running_apiserver(directory / "apiserver", etcd) as server,
    ):
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kube-bench-") as temp, _cluster(Path(temp)) as server:
        directory = Path(temp)
        started = time.perf_counter()
        asyncio.run(_seed(server.kubeconfig, args.count, args.concurrency))
        seeded = time.perf_counter() - started
        print(f"seeded {args.count} Secrets in {seeded:.1f}s ({args.count / seeded:.0f}/s)\n")
        relay = CountingRelay(server.port)
        direct = _commands(server, server.kubeconfig, directory / "kube-cache")
        relayed_config = _kubeconfig(server, f"https://127.0.0.1:{relay.port}", directory / "k")
        relayed = _commands(server, relayed_config, directory / "kube-cache")
        rows: dict[str, tuple[float, int, int]] = {}
        for name, argv in direct.items():
            _run(argv)  # warm: kubectl's discovery cache, the page cache, the apiserver's
            walls = [_run(argv)[0] for _ in range(args.repeat)]
            relay.reset()
            _, stdout = _run(relayed[name])
            rows[name] = (statistics.median(walls), relay.received, _count(name, stdout))
        print("| client | objects | wall s (median) | bytes received |")
        print("|---|---:|---:|---:|")
        for name, (wall, received, count) in rows.items():
            print(f"| {name} | {count} | {wall:.2f} | {received:,} |")
        (s_wall, s_bytes, _), (k_wall, k_bytes, _) = rows.values()
        print(
            f"\nsealbox/kubectl: time {s_wall / k_wall:.2f}x (target <= 1), "
            f"bytes {k_bytes / s_bytes:.1f}x fewer (target >= 5)"
        )


if __name__ == "__main__":
    main()
