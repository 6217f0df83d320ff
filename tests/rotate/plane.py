"""A two-apiserver control plane that hot-reloads one encryption config, a KMS v2 plugin for it,
and a writer that keeps changing Secrets through both apiservers while a rotation runs.

Both kube-apiservers share one etcd prefix, one serving certificate and the service-account
signing keys (the second is given the first's), so one kubeconfig, holding a cluster-admin
service account's token, works on both; and both run
``--encryption-provider-config-automatic-reload`` on the very same file, as the apiservers of a
real control plane read the same path on each of their hosts. The file starts with aescbc
``key1`` alone. A real ``sealbox kms serve`` (local keyring) listens on a unix socket for the
rotation to KMS v2. The second apiserver runs no endpoint reconciler, so the two do not rewrite
the ``kubernetes`` EndpointSlice in turn.

:class:`Writer` creates and updates Secrets alternately through the two apiservers and remembers
the last value it wrote to each one: after the rotations every Secret must read back as that.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import secrets
import shutil
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sealbox.kms.backends import local
from tests.conformance.api import api_request
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.integration.plugin_process import (
    RunningPlugin,
    metrics_address,
    run_plugin,
    write_plugin_config,
)
from tests.integration.processes import wait_until
from tests.kms_fixtures import socket_dir

__all__ = [
    "KMS_NAME",
    "NAMESPACE",
    "Plane",
    "Writer",
    "aescbc_config",
    "file_mode",
    "running_plane",
]

NAMESPACE = "default"
KMS_NAME = "rotate-kms"
_RETRY_SECONDS = 120.0  # how long one write keeps trying while an apiserver restarts


def aescbc_config() -> bytes:
    """The starting file: Secrets under aescbc ``key1``, nothing else (no identity fallback)."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n"
        f"            - name: key1\n              secret: {key}\n"
    ).encode()


@dataclass
class Plane:
    """The two apiservers, the one config file they load, the admin kubeconfig both accept,
    the etcd they share and the KMS plugin."""

    first: KubeApiserver
    second: KubeApiserver
    config: Path
    kubeconfig: Path
    etcd: EtcdServer
    plugin: RunningPlugin

    @property
    def servers(self) -> tuple[KubeApiserver, KubeApiserver]:
        return self.first, self.second

    @property
    def urls(self) -> list[str]:
        return [self.first.url, self.second.url]

    @property
    def prefix(self) -> str:
        return self.first.etcd_prefix

    def restart_second(self) -> None:
        """Start the (stopped) second apiserver again on its port; it loads the file as it is."""
        self.second.process.start()
        wait_until(self.second.ready, timeout=120, what="the second kube-apiserver restarted")


def _flags(config: Path) -> list[str]:
    return [
        f"--encryption-provider-config={config}",
        "--encryption-provider-config-automatic-reload",
    ]


@contextlib.contextmanager
def running_plane(etcd: EtcdServer, directory: Path) -> Iterator[Plane]:
    """See the module docstring; everything is stopped on exit."""
    config = directory / "encryption-config.yaml"
    config.touch(mode=0o600)
    config.write_bytes(aescbc_config())
    with socket_dir() as workdir:  # short path: unix sockets allow ~107 bytes
        local.create_keyring(workdir / "kek.key")
        address, port = metrics_address()
        plugin_yaml = write_plugin_config(
            workdir,
            str(workdir / "kms.sock"),
            {"type": "local", "keyFile": "kek.key"},
            metricsAddress=address,
        )
        with (
            run_plugin(plugin_yaml, metrics_port=port) as plugin,
            running_apiserver(directory / "first", etcd, flags=_flags(config)) as first,
        ):
            (directory / "second" / "certs").mkdir(parents=True)
            for name in ("apiserver.crt", "apiserver.key"):
                shutil.copy(first.ca_file.with_name(name), directory / "second" / "certs" / name)
            shared = [  # the first's service-account keys (the last flag wins)
                f"--service-account-key-file={first.directory / 'sa.pub'}",
                f"--service-account-signing-key-file={first.directory / 'sa.key'}",
                "--endpoint-reconciler-type=none",
            ]
            with running_apiserver(
                directory / "second",
                etcd,
                flags=[*_flags(config), *shared],
                etcd_prefix=first.etcd_prefix,
            ) as second:
                kubeconfig = _operator_kubeconfig(first, directory / "operator.yaml")
                yield Plane(first, second, config, kubeconfig, etcd, plugin)


def _operator_kubeconfig(first: KubeApiserver, path: Path) -> Path:
    """A cluster-admin kubeconfig both apiservers accept: a service account's token, signed
    with the key both verify (each apiserver's static tokens are its own)."""
    first.kubectl("create", "serviceaccount", "rotator", "-n", NAMESPACE)
    first.kubectl(
        "create",
        "clusterrolebinding",
        "rotator",
        "--clusterrole=cluster-admin",
        f"--serviceaccount={NAMESPACE}:rotator",
    )
    token = first.kubectl("create", "token", "rotator", "-n", NAMESPACE, "--duration=4h")
    document = first.kubeconfig_document("admin")
    document["users"] = [{"name": "admin", "user": {"token": token.stdout.strip()}}]
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(document))
    return path


def _data() -> dict[str, str]:
    return {"value": base64.b64encode(secrets.token_hex(12).encode()).decode()}


@dataclass
class Writer:
    """Creates and updates Secrets alternately through both apiservers, in a thread.

    Each write goes to the next apiserver in turn; where that one cannot be reached (stopped,
    restarting) the same write goes to the other, so every write eventually lands and ``last``
    holds exactly what each Secret must read back as. A write that fails otherwise is recorded
    in ``errors`` (and fails the test).
    """

    servers: tuple[KubeApiserver, KubeApiserver]
    interval: float = 0.25
    create_every: int = 10  # one write in this many creates a Secret; the others update one
    last: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    writes: list[int] = field(default_factory=lambda: [0, 0])  # landed, per apiserver
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _random: random.Random = field(default_factory=random.Random)

    def seed(self, count: int) -> None:
        for _ in range(count):
            self._create(len(self.last))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="secret-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_RETRY_SECONDS + 30)
            assert not self._thread.is_alive(), "the writer did not stop"

    @property
    def total(self) -> int:
        return sum(self.writes)

    def _run(self) -> None:
        turn = 0
        while not self._stop.wait(self.interval):
            if turn % self.create_every == 0:
                self._create(turn)
            else:
                name = self._random.choice(sorted(self.last))
                self._write("PUT", name, _data(), turn)
            turn += 1

    def _create(self, turn: int) -> None:
        self._write("POST", f"w-{len(self.last):04d}", _data(), turn)

    def _write(self, method: str, name: str, data: dict[str, str], turn: int) -> None:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}
        path = f"/api/v1/namespaces/{NAMESPACE}/secrets"
        deadline = time.monotonic() + _RETRY_SECONDS
        attempt = 0
        while time.monotonic() < deadline:
            index = (turn + attempt) % 2
            attempt += 1
            target = path if method == "POST" else f"{path}/{name}"
            try:
                status, answer = api_request(self.servers[index], method, target, body)
            except (urllib.error.URLError, OSError):  # refused, reset, timed out: try the other
                status, answer = 0, {}
            if method == "POST" and status == 409 and attempt > 1:
                method = "PUT"  # an earlier attempt landed after all: write the value again
                continue
            if 200 <= status < 300:
                self.last[name] = data
                self.writes[index] += 1
                return
            if status and status != 429 and status < 500:
                self.errors.append(f"{method} {name}: HTTP {status} {answer.get('reason')}")
                return
            time.sleep(0.2)
        self.errors.append(f"{method} {name}: no apiserver took it in {_RETRY_SECONDS:g}s")


def file_mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return os.stat(path).st_mode & 0o777
