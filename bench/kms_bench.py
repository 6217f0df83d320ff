"""KMS plugin throughput and latency over its unix socket, side by side with a bare echo server.

    .venv/bin/python bench/kms_bench.py [--seconds 5] [--backends local,pkcs11]

For each backend it starts ``sealbox kms serve`` as its own process and, in the same run, a bare
``grpc.aio`` server speaking the same KMS v2 API that does no work at all (Decrypt returns its
input), both on unix sockets. One grpc.aio client drives Status, Encrypt and Decrypt at
concurrency 1 and 16 for a fixed time and prints calls/s, p50 and p99 per row, and the
plugin/echo throughput ratio. The echo server is the ceiling Python gRPC allows on this machine;
the ratio is what the plugin's own work costs. The pkcs11 backend needs SoftHSM2 installed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import yaml

from sealbox._proto import kmsv2_api_pb2, kmsv2_api_pb2_grpc

CONCURRENCY = (1, 16)
OPERATIONS = ("Status", "Encrypt", "Decrypt")


class EchoServicer(kmsv2_api_pb2_grpc.KeyManagementServiceServicer):
    """The least a KMS v2 server can do: constant Status, Encrypt/Decrypt return their input."""

    async def Status(  # noqa: N802
        self, request: kmsv2_api_pb2.StatusRequest, context: object
    ) -> kmsv2_api_pb2.StatusResponse:
        return kmsv2_api_pb2.StatusResponse(version="v2", healthz="ok", key_id="echo")

    async def Encrypt(  # noqa: N802
        self, request: kmsv2_api_pb2.EncryptRequest, context: object
    ) -> kmsv2_api_pb2.EncryptResponse:
        return kmsv2_api_pb2.EncryptResponse(ciphertext=request.plaintext, key_id="echo")

    async def Decrypt(  # noqa: N802
        self, request: kmsv2_api_pb2.DecryptRequest, context: object
    ) -> kmsv2_api_pb2.DecryptResponse:
        return kmsv2_api_pb2.DecryptResponse(plaintext=request.ciphertext)


async def serve_echo(socket: str) -> None:
    server = grpc.aio.server()
    kmsv2_api_pb2_grpc.add_KeyManagementServiceServicer_to_server(EchoServicer(), server)
    server.add_insecure_port("unix://" + socket)
    await server.start()
    await server.wait_for_termination()


@dataclass
class Row:
    server: str
    operation: str
    concurrency: int
    calls_per_second: float
    p50_ms: float
    p99_ms: float


async def _drive(
    call: Callable[[], Awaitable[object]], concurrency: int, seconds: float
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def _calls(
    channel: grpc.aio.Channel,
) -> dict[str, Callable[[], Awaitable[object]]]:
    stub = kmsv2_api_pb2_grpc.KeyManagementServiceStub(channel)
    status = await stub.Status(kmsv2_api_pb2.StatusRequest(), timeout=10)
    sample = await stub.Encrypt(
        kmsv2_api_pb2.EncryptRequest(plaintext=os.urandom(32), uid="bench"), timeout=10
    )
    decrypt = kmsv2_api_pb2.DecryptRequest(
        ciphertext=sample.ciphertext,
        uid="bench",
        key_id=status.key_id,
        annotations=dict(sample.annotations),
    )
    encrypt = kmsv2_api_pb2.EncryptRequest(plaintext=os.urandom(32), uid="bench")
    return {
        "Status": lambda: stub.Status(kmsv2_api_pb2.StatusRequest(), timeout=10),
        "Encrypt": lambda: stub.Encrypt(encrypt, timeout=10),
        "Decrypt": lambda: stub.Decrypt(decrypt, timeout=10),
    }


async def measure(servers: dict[str, str], seconds: float) -> list[Row]:
    """Each row is measured on every server back to back, so drift hits them alike."""
    rows: list[Row] = []
    options = [("grpc.default_authority", "localhost")]
    channels = {
        name: grpc.aio.insecure_channel("unix://" + path, options=options)
        for name, path in servers.items()
    }
    try:
        calls = {name: await _calls(channel) for name, channel in channels.items()}
        for operation in OPERATIONS:
            for concurrency in CONCURRENCY:
                for name in servers:
                    call = calls[name][operation]
                    await _drive(call, concurrency, min(1.0, seconds / 4))  # warm up
                    rate, latencies = await _drive(call, concurrency, seconds)
                    cuts = statistics.quantiles(latencies, n=100)
                    rows.append(
                        Row(name, operation, concurrency, rate, cuts[49] * 1e3, cuts[98] * 1e3)
                    )
    finally:
        for channel in channels.values():
            await channel.close()
    return rows


@contextmanager
def _process(argv: list[str], socket: str, log: Path, env: dict[str, str]) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(socket):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[2:5]} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.3)
        yield
    finally:
        process.terminate()
        process.wait(15)


def _softhsm_token(workdir: Path) -> tuple[dict[str, object], dict[str, str]]:
    tokens = workdir / "tokens"
    tokens.mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    env = {"SOFTHSM2_CONF": str(conf), "SEALBOX_BENCH_PIN": "1234"}
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            "5678",
            "--pin",
            "1234",
        ],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    config: dict[str, object] = {
        "type": "pkcs11",
        "tokenLabel": "bench",
        "keyLabel": "sealbox-kek",
        "pinEnv": "SEALBOX_BENCH_PIN",
        "generateIfMissing": True,
    }
    return config, env


def run_backend(backend: str, seconds: float) -> list[Row]:
    workdir = Path(tempfile.mkdtemp(prefix="sbx-bench-", dir="/tmp"))
    try:
        env = dict(os.environ)
        if backend == "local":
            from sealbox.kms.backends import local

            local.create_keyring(workdir / "kek.key")
            primary: dict[str, object] = {"type": "local", "keyFile": str(workdir / "kek.key")}
        else:
            primary, extra = _softhsm_token(workdir)
            env.update(extra)
        plugin_socket = str(workdir / "plugin.sock")
        echo_socket = str(workdir / "echo.sock")
        config = workdir / "plugin.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "sealbox.io/v1alpha1",
                    "kind": "KMSPluginConfiguration",
                    "socket": plugin_socket,
                    "backends": {"primary": primary},
                }
            )
        )
        plugin_argv = [
            sys.executable,
            "-m",
            "sealbox",
            "kms",
            "serve",
            "--config",
            str(config),
            "--log-level",
            "warning",
        ]
        echo_argv = [sys.executable, __file__, "--echo-server", echo_socket]
        with (
            _process(echo_argv, echo_socket, workdir / "echo.log", env),
            _process(plugin_argv, plugin_socket, workdir / "plugin.log", env),
        ):
            servers = {"echo": echo_socket, f"sealbox/{backend}": plugin_socket}
            return asyncio.run(measure(servers, seconds))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def print_table(backend: str, rows: list[Row]) -> None:
    echo = {(r.operation, r.concurrency): r for r in rows if r.server == "echo"}
    print(f"\n### backend: {backend}\n")
    print("| operation | conc. | server | calls/s | p50 ms | p99 ms | plugin/echo |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for row in rows:
        base = echo[(row.operation, row.concurrency)]
        ratio = (
            "" if row.server == "echo" else f"{row.calls_per_second / base.calls_per_second:.0%}"
        )
        print(
            f"| {row.operation} | {row.concurrency} | {row.server} | {row.calls_per_second:,.0f} "
            f"| {row.p50_ms:.2f} | {row.p99_ms:.2f} | {ratio} |"
        )
    target = next(
        r for r in rows if r.server != "echo" and r.operation == "Decrypt" and r.concurrency == 16
    )
    base = echo[("Decrypt", 16)]
    share = target.calls_per_second / base.calls_per_second
    verdict = "meets" if share >= 0.75 and target.p99_ms < 10 else "MISSES"
    print(
        f"\nDecrypt @16: {share:.0%} of echo throughput, p99 {target.p99_ms:.2f} ms "
        f"({verdict} the target: >= 75% and p99 < 10 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per row")
    parser.add_argument("--backends", default="local,pkcs11", help="comma-separated backends")
    parser.add_argument("--echo-server", metavar="SOCKET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        asyncio.run(serve_echo(args.echo_server))
        return
    print(
        f"KMS plugin benchmark: {os.cpu_count()} CPUs, {args.seconds:g}s per row, "
        f"Python {sys.version.split()[0]}, grpcio {grpc.__version__}"
    )
    for backend in args.backends.split(","):
        print_table(backend, run_backend(backend, args.seconds))


if __name__ == "__main__":
    main()
