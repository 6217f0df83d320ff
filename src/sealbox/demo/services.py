"""Start a throwaway etcd and ``sealbox kms serve`` on loopback, and stop them again.

For the demo only: temp directories, free ports, processes stopped by their own pid. Production
runs etcd and the plugin as the control plane does (see deploy/).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sealbox.errors import BackendUnavailable, InputError
from sealbox.kms.backends.local import create_keyring

__all__ = ["DemoServices", "running_services"]


@dataclass(frozen=True, slots=True)
class DemoServices:
    """What the demo started: its private temp dir, etcd's client URL, the plugin's socket."""

    workdir: Path
    etcd_url: str
    kms_endpoint: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_START_SECONDS = 30.0
"""How long etcd and the plugin may take to come up before the demo gives up."""


def _wait(check: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BackendUnavailable(f"{what} exited during start-up (code {process.returncode})")
        if check():
            return
        time.sleep(0.05)
    raise BackendUnavailable(f"{what} did not start within {_START_SECONDS:g}s")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def _running(what: str, argv: list[str], log: Path, ready: Callable[[], bool]) -> Iterator[None]:
    """``argv`` (called ``what`` in errors) running, its output in ``log``, from when ``ready()``
    holds until the block ends; then stopped by its own pid."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - fixed argv
    try:
        _wait(ready, process, what)
        yield
    finally:
        _stop(process)


@contextmanager
def _etcd(workdir: Path) -> Iterator[str]:
    binary = shutil.which("etcd")
    if binary is None:
        raise InputError("etcd is not installed (Debian: apt-get install etcd-server)")
    client, peer = _free_port(), _free_port()
    argv = [
        binary,
        "--name=sealbox-demo",
        f"--data-dir={workdir / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{client}",
        f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=sealbox-demo=http://127.0.0.1:{peer}",
        "--initial-cluster-state=new",
    ]
    with _running("etcd", argv, workdir / "etcd.log", lambda: _port_open(client)):
        yield f"http://127.0.0.1:{client}"


@contextmanager
def _plugin(workdir: Path) -> Iterator[str]:
    keyring = workdir / "kek.key"
    create_keyring(keyring)
    socket_path = workdir / "kms.sock"
    argv = [
        sys.executable,
        "-m",
        "sealbox",
        "kms",
        "serve",
        f"--socket={socket_path}",
        f"--key-file={keyring}",
        "--log-level=warning",
    ]
    with _running("sealbox kms serve", argv, workdir / "kms.log", socket_path.exists):
        yield f"unix://{socket_path}"


@contextmanager
def running_services() -> Iterator[DemoServices]:
    """etcd and the KMS plugin in a fresh temp dir; everything is removed on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="sealbox-demo-"))
    os.chmod(workdir, 0o700)
    try:
        with _etcd(workdir) as etcd_url, _plugin(workdir) as kms_endpoint:
            yield DemoServices(workdir, etcd_url, kms_endpoint)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
