"""A kube-apiserver whose KMS v2 plugin is a real ``sealbox kms serve``, one per backend.

Each :class:`KmsCluster` is a backend (local keyring, SoftHSM2 token, OpenBao transit key, moto
KMS key behind an alias), a plugin process serving it on a unix socket, and an apiserver that
encrypts Secrets with it (``kms`` v2 first, ``identity`` after it so the apiserver's own start-up
is not at the plugin's mercy for anything but Secrets). :func:`start_clusters` starts them all at
once, so the start-up cost is paid in parallel.

The cluster also remembers every Secret the tests wrote through it (:attr:`KmsCluster.written`),
so any test can check that none was lost: after a rotation, after a plugin outage.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml

from sealbox.kms.backends import local
from tests.conformance.api import secret_data
from tests.integration.backends.awskms import AWS_TEST_ENV, REGION, MotoKMS
from tests.integration.backends.pkcs11 import temporary_softhsm_token
from tests.integration.backends.vault import OpenBao
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.integration.plugin_process import (
    SEALBOX,
    RunningPlugin,
    metrics_address,
    run_plugin,
    write_plugin_config,
)
from tests.integration.processes import wait_until
from tests.kms_fixtures import socket_dir

__all__ = [
    "BACKENDS",
    "NAMESPACE",
    "KmsCluster",
    "Services",
    "encryption_config",
    "kms_provider",
    "sealbox_cli",
    "start_clusters",
    "wait_plugin_serving",
]

BACKENDS = ("local", "pkcs11", "vault", "awskms")
NAMESPACE = "default"
_PROBE_INTERVAL = "1s"  # how soon a plugin notices a rotated KEK (its health probe)


@dataclass
class KmsCluster:
    """One backend's plugin and the apiserver using it; ``rotate`` makes the KEK change."""

    kind: str
    plugin: RunningPlugin
    apiserver: KubeApiserver
    etcd: EtcdServer
    encryption_config: Path
    rotate: Callable[[], None]
    written: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def provider_name(self) -> str:
        return f"sealbox-{self.kind}"

    def secret_key(self, name: str) -> str:
        return f"{self.apiserver.etcd_prefix}/secrets/{NAMESPACE}/{name}"

    def key_id(self) -> str:
        return str(self.plugin.status().key_id)

    def plugin_serving(self) -> bool:
        try:
            return bool(self.plugin.status(timeout=1).healthz == "ok")
        except grpc.RpcError:
            return False

    def lost_secrets(self, reader: KubeApiserver | None = None) -> list[str]:
        """Names of the Secrets written through this cluster that no longer read back as written
        (through ``reader``, another apiserver on the same etcd prefix, if given)."""
        reader = reader or self.apiserver
        return [
            name
            for name, data in sorted(self.written.items())
            if secret_data(reader, NAMESPACE, name) != data
        ]


def encryption_config(
    path: Path, providers: list[dict[str, Any]], resources: tuple[str, ...] = ("secrets",)
) -> Path:
    """Write an EncryptionConfiguration with one entry for ``resources``."""
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": list(resources), "providers": providers}],
    }
    path.write_text(yaml.safe_dump(document))
    return path


def kms_provider(name: str, socket: str) -> dict[str, Any]:
    return {"kms": {"apiVersion": "v2", "name": name, "endpoint": f"unix://{socket}"}}


@dataclass(frozen=True)
class Services:
    """The session's shared servers the backends live in."""

    etcd: EtcdServer
    openbao: OpenBao
    moto: MotoKMS
    tmp: Path


def sealbox_cli(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the ``sealbox`` CLI as an operator would; its stdout (AssertionError when it fails)."""
    result = subprocess.run(
        [*SEALBOX, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise AssertionError(
            f"sealbox {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
    return result.stdout


def _backend(
    kind: str, workdir: Path, services: Services, stack: contextlib.ExitStack
) -> tuple[dict[str, Any], dict[str, str], Callable[[Path], None]]:
    """The backend entry for plugin.yaml, the plugin's extra environment, and a rotate lever
    (given the plugin.yaml's path)."""
    if kind == "local":
        local.create_keyring(workdir / "kek.key")

        def rotate_local(_: Path) -> None:
            sealbox_cli("kms", "rotate-key", "--key-file", str(workdir / "kek.key"))

        return {"type": "local", "keyFile": "kek.key"}, {}, rotate_local
    if kind == "pkcs11":
        token = stack.enter_context(temporary_softhsm_token(workdir / "softhsm"))
        env = dict(token.env)

        def rotate_pkcs11(plugin_yaml: Path) -> None:
            sealbox_cli("kms", "rotate-key", "--config", str(plugin_yaml), env=env)

        return token.config(), env, rotate_pkcs11
    if kind == "vault":
        admin = services.openbao.admin
        key = admin.create_key()
        token_file = workdir / "vault-token"
        token_file.touch(mode=0o600)
        token_file.write_text(admin.token(admin.policy(key), renewable=True) + "\n")
        entry = {
            "type": "vault",
            "address": services.openbao.address,
            "keyName": key,
            "auth": {"method": "token", "tokenFile": str(token_file)},
        }
        return entry, {}, lambda _: admin.rotate(key)
    if kind == "awskms":
        moto = services.moto
        alias, _ = moto.key_with_alias()
        entry = {"type": "awskms", "keyId": alias, "region": REGION, "endpointUrl": moto.url}
        return entry, dict(AWS_TEST_ENV), lambda _: moto.move_alias(alias, moto.create_key())
    raise ValueError(kind)


def _start(kind: str, services: Services) -> tuple[contextlib.ExitStack, KmsCluster]:
    stack = contextlib.ExitStack()
    try:
        workdir = stack.enter_context(socket_dir())  # short path: unix sockets allow ~107 bytes
        entry, env, rotate = _backend(kind, workdir, services, stack)
        address, port = metrics_address()
        socket = str(workdir / "kms.sock")
        plugin_yaml = write_plugin_config(
            workdir, socket, entry, healthProbeInterval=_PROBE_INTERVAL, metricsAddress=address
        )
        plugin = stack.enter_context(run_plugin(plugin_yaml, metrics_port=port, env=env))
        config = encryption_config(
            workdir / "encryption-config.yaml",
            [kms_provider(f"sealbox-{kind}", socket), {"identity": {}}],
        )
        apiserver = stack.enter_context(
            running_apiserver(
                services.tmp / f"apiserver-{kind}-{secrets.token_hex(3)}",
                services.etcd,
                flags=[f"--encryption-provider-config={config}"],
            )
        )
        cluster = KmsCluster(
            kind, plugin, apiserver, services.etcd, config, lambda: rotate(plugin_yaml)
        )
        return stack, cluster
    except BaseException:
        stack.close()
        raise


@contextlib.contextmanager
def start_clusters(services: Services, kinds: tuple[str, ...]) -> Iterator[dict[str, KmsCluster]]:
    """One :class:`KmsCluster` per kind, started concurrently; all stopped on exit, concurrently
    too (an apiserver with a KMS provider takes several seconds to shut down)."""
    with ThreadPoolExecutor(len(kinds)) as pool:
        futures = [pool.submit(_start, kind, services) for kind in kinds]
        started: list[tuple[contextlib.ExitStack, KmsCluster]] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                started.append(future.result())
            except BaseException as exc:  # keep the others so that they are stopped
                failure = failure or exc
        try:
            if failure is not None:
                raise failure
            yield {cluster.kind: cluster for _, cluster in started}
        finally:
            for closing in [pool.submit(stack.close) for stack, _ in started]:
                closing.result()


def wait_plugin_serving(cluster: KmsCluster) -> None:
    wait_until(cluster.plugin_serving, timeout=30, what=f"{cluster.kind} plugin")
