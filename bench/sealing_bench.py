"""Unsealing 1,000 SealedSecrets x 3 values with 5 keys held: upstream's format versus the
Sealbox envelope, through the real controller and a real kube-apiserver.

    .venv/bin/python -m bench.sealing_bench [--count 1000] [--values 3] [--keys 5]
        [--key-size 4096] [--concurrency 32]

Starts etcd and kube-apiserver (the test fixture's, from ``tests/integration``), installs the
SealedSecret CRD from ``deploy/sealing``, stores KEYS sealing keys as upstream stores them
(``kubernetes.io/tls`` Secrets labelled active, renewed 30 days apart), and runs
``sealbox controller sealing`` as its own process. Then, in the same run, for each format:
COUNT SealedSecrets in a fresh namespace, each value sealed to one of the keys at random (a
fixed seed: both formats see the same keys), created concurrently; the clock runs from the
first create until every Secret exists.

RSA private-key operations are read from the controller's own counter
(``sealbox_sealing_private_key_operations_total``) before and after each round. Upstream's
controller tries its keys in Go map order, so an upstream-format value costs on average about
half the key count; Sealbox tries newest first (values sealed since the last renewal cost 1),
and an envelope names its key, so it must cost exactly 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from lightkube import AsyncClient
from lightkube.generic_resource import GenericNamespacedResource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from sealbox.controllers.sealing import SealedSecret
from sealbox.kube import KubeTarget, async_client
from sealbox.sealing import (
    Scope,
    SealingKey,
    encode_value,
    generate_key,
    label_for,
    seal,
    seal_envelope,
)
from tests.integration.etcd_server import running_etcd
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.integration.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
KEY_NAMESPACE = "sealbox-system"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
METRIC = "sealbox_sealing_private_key_operations_total"
Sealer = Callable[[SealingKey, bytes, bytes], bytes]
FORMATS: dict[str, Sealer] = {
    "upstream format (no key id)": lambda key, value, label: seal(key.public_key, value, label),
    "Sealbox envelope (key id)": lambda key, value, label: seal_envelope(
        [key.public_key], value, label
    ),
}


def _keys(count: int, bits: int) -> list[SealingKey]:
    now = datetime.datetime.now(datetime.UTC)
    return [
        generate_key(bits=bits, now=now - datetime.timedelta(days=30 * (count - index)))
        for index in range(count)
    ]


async def _store_keys(client: AsyncClient, keys: list[SealingKey]) -> None:
    await client.create(Namespace(metadata=ObjectMeta(name=KEY_NAMESPACE)))
    for index, key in enumerate(keys):
        data = {
            "tls.key": base64.b64encode(key.private_key_pem()).decode(),
            "tls.crt": base64.b64encode(key.certificate_pem()).decode(),
        }
        await client.create(
            Secret(
                metadata=ObjectMeta(
                    name=f"sealed-secrets-key{index}",
                    namespace=KEY_NAMESPACE,
                    labels={KEY_LABEL: "active"},
                ),
                type="kubernetes.io/tls",
                data=data,
            )
        )


def _sealed_secrets(
    namespace: str, count: int, values: int, keys: list[SealingKey], sealer: Sealer
) -> list[GenericNamespacedResource]:
    chooser = random.Random(1234)  # the same key choices for both formats
    objects = []
    for index in range(count):
        name = f"app-{index:05d}"
        key = chooser.choice(keys)
        label = label_for(Scope.STRICT, namespace, name)
        encrypted = {
            f"value-{item}": encode_value(sealer(key, os.urandom(24), label))
            for item in range(values)
        }
        objects.append(
            SealedSecret(
                metadata=ObjectMeta(name=name, namespace=namespace),
                spec={"encryptedData": encrypted, "template": {"metadata": {}}},
            )
        )
    return objects


def _operations(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(METRIC + " ") or line.startswith(METRIC + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise SystemExit(f"the controller does not expose {METRIC}")


async def _round(
    client: AsyncClient, namespace: str, objects: list[GenericNamespacedResource], concurrency: int
) -> float:
    await client.create(Namespace(metadata=ObjectMeta(name=namespace)))
    pending = list(objects)
    started = time.perf_counter()

    async def worker() -> None:
        while pending:
            await client.create(pending.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    while True:
        ready = [s async for s in client.list(Secret, namespace=namespace)]
        if len(ready) >= len(objects):
            return time.perf_counter() - started
        await asyncio.sleep(0.2)  # the bench polls; tests wait on events


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the controller exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the controller did not become ready:\n{log.read_text()[-3000:]}")


def _controller(
    server: KubeApiserver, directory: Path
) -> tuple[subprocess.Popen[bytes], str, Path]:
    http, metrics = free_port(), free_port()
    log = directory / "controller.log"
    argv = [
        sys.executable,
        "-m",
        "sealbox",
        "controller",
        "sealing",
        f"--kubeconfig={server.kubeconfig}",
        f"--key-namespace={KEY_NAMESPACE}",
        "--key-renew-period=0",
        f"--listen-addr=127.0.0.1:{http}",
        f"--listen-metrics-addr=127.0.0.1:{metrics}",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{metrics}", log


async def _run(args: argparse.Namespace, server: KubeApiserver, directory: Path) -> list[str]:
    crd = ROOT / "deploy" / "sealing" / "crd.yaml"
    server.kubectl("apply", "-f", str(crd))
    server.kubectl(
        "wait", "--for=condition=Established", "crd/sealedsecrets.bitnami.com", "--timeout=60s"
    )
    keys = _keys(args.keys, args.key_size)
    rows = []
    async with async_client(KubeTarget(server.kubeconfig), timeout=60) as client:
        await _store_keys(client, keys)
        process, metrics_url, log = _controller(server, directory)
        try:
            _wait_ready(metrics_url + "/metrics", process, log)
            for index, (title, sealer) in enumerate(FORMATS.items()):
                objects = _sealed_secrets(f"bench-{index}", args.count, args.values, keys, sealer)
                before = _operations(metrics_url + "/metrics")
                seconds = await _round(client, f"bench-{index}", objects, args.concurrency)
                operations = _operations(metrics_url + "/metrics") - before
                values = args.count * args.values
                rows.append(
                    f"| {title} | {seconds:.1f} | {args.count / seconds:.1f} "
                    f"| {operations:.0f} | {operations / values:.2f} |"
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--values", type=int, default=3)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--key-size", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sealing-bench-") as temp:
        directory = Path(temp)
        (directory / "etcd").mkdir()
        with (
            running_etcd(directory / "etcd") as etcd,
            running_apiserver(directory / "apiserver", etcd) as server,
        ):
            rows = asyncio.run(_run(args, server, directory))
    print(
        f"\n{args.count} SealedSecrets x {args.values} values, {args.keys} RSA-{args.key_size} "
        "keys held, each object sealed to one of them at random (same choices for both rows)\n"
    )
    print(
        "| values | apply → all Secrets (s) | SealedSecrets/s | RSA private-key ops "
        "| ops per value |"
    )
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
