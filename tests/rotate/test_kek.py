"""A KMS v2 KEK rotation end to end: ``sealbox kms rotate-key``, then ``sealbox rotate apply``.

One kube-apiserver on a real etcd writes Secrets through a real ``sealbox kms serve`` (a local
keyring). The file never changes: ``rotate-key`` gives the plugin a new key_id, and
``apply_rotation(config, "kms:<name>")`` waits until the apiserver has taken it up (its Status
poll, once a minute: the one long wait here), rewraps every value in etcd and verifies. Before the
rotation runs, the verify rule itself is checked: every Secret is still under the old key_id, so a
check for the rotated provider fails and counts them, while a check for retired keys alone (there
are none) would pass. At the end every stored record carries the new key_id (read from etcd, as
the conformance tests do) and every Secret reads back.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from sealbox.encryption import StorageTransformers, load_config
from sealbox.kms import key_id_hash
from sealbox.kms.backends import local
from sealbox.kms.client import GrpcConnector
from sealbox.kube import KubeTarget
from sealbox.rotate import EtcdAccess, apply_rotation
from sealbox.rotate.plan import STAGES
from sealbox.rotate.verify import KekCheck, VerifyResult, verify_etcd
from sealbox.storage.etcd import EtcdClient, EtcdConfig
from tests.conformance.api import etcd_values, kms_record
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

pytestmark = pytest.mark.integration

NAMESPACE = "default"
PROVIDER = "kek-kms"
COUNT = 6
# The apiserver asks the plugin's Status once a minute; a loaded 2-core machine may be late.
TAKE_UP_SECONDS = 150.0


@dataclass
class KekPlane:
    plugin: RunningPlugin
    server: KubeApiserver
    etcd: EtcdServer
    config: Path
    keyring: Path

    def etcd_config(self) -> EtcdConfig:
        return EtcdConfig(endpoints=(self.etcd.url,))

    def secret_key(self, name: str) -> str:
        return f"{self.server.etcd_prefix}/secrets/{NAMESPACE}/{name}"

    def stored_key_id(self, name: str) -> str:
        key = self.secret_key(name)
        return kms_record(etcd_values(self.etcd, key)[key], PROVIDER).key_id

    def key_id(self) -> str:
        return str(self.plugin.status().key_id)


@pytest.fixture(scope="module")
def plane(etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KekPlane]:
    with socket_dir() as workdir:  # short path: unix sockets allow ~107 bytes
        keyring = workdir / "kek.key"
        local.create_keyring(keyring)
        address, port = metrics_address()
        socket = str(workdir / "kms.sock")
        plugin_yaml = write_plugin_config(
            workdir, socket, {"type": "local", "keyFile": "kek.key"}, metricsAddress=address
        )
        config = workdir / "encryption-config.yaml"
        kms = {"apiVersion": "v2", "name": PROVIDER, "endpoint": f"unix://{socket}"}
        document = {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "EncryptionConfiguration",
            "resources": [
                {"resources": ["secrets"], "providers": [{"kms": kms}, {"identity": {}}]}
            ],
        }
        config.write_text(yaml.safe_dump(document))
        config.chmod(0o600)
        with run_plugin(plugin_yaml, metrics_port=port) as plugin:
            directory = tmp_path_factory.mktemp("rotate-kek")
            flags = [f"--encryption-provider-config={config}"]
            with running_apiserver(directory, etcd_server, flags=flags) as server:
                yield KekPlane(plugin, server, etcd_server, config, keyring)


def _rotate_key(keyring: Path) -> None:
    """``sealbox kms rotate-key`` on the plugin's keyring, as an operator runs it."""
    result = subprocess.run(
        [*SEALBOX, "kms", "rotate-key", "--key-file", str(keyring)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def _verify(plane: KekPlane, kek: KekCheck | None) -> VerifyResult:
    config = load_config(plane.config)
    prefix = plane.server.etcd_prefix
    with EtcdClient(plane.etcd_config()) as store, GrpcConnector() as connector:
        transformers = StorageTransformers(config, connector, etcd_prefix=prefix)
        return verify_etcd(
            store, config, ["secrets"], (), etcd_prefix=prefix, transformers=transformers, kek=kek
        )


def test_kek_rotation_waits_for_the_new_key_id_rewraps_and_verifies(plane: KekPlane) -> None:
    started = time.monotonic()
    tag = secrets.token_hex(3)
    names = [f"kek-{tag}-{index}" for index in range(COUNT)]
    for name in names:
        plane.server.kubectl(
            "create", "secret", "generic", name, "-n", NAMESPACE, f"--from-literal=v=value-{name}"
        )
    old_key_id = plane.key_id()
    assert {plane.stored_key_id(name) for name in names} == {old_key_id}

    _rotate_key(plane.keyring)
    wait_until(lambda: plane.key_id() != old_key_id, timeout=30, what="plugin's new key_id")
    new_key_id = plane.key_id()
    kek = KekCheck(PROVIDER, key_id_hash(new_key_id))

    # The verify rule: retired keys alone (a KEK rotation retires none) pass trivially, the
    # plugin's previous key_id does not.
    assert _verify(plane, None).passed
    before = _verify(plane, kek)
    assert not before.passed
    assert before.remaining["secrets"] >= COUNT
    assert before.undecryptable == 0
    line = before.summary()
    assert line.startswith("FAILED"), line
    assert f"still under a key_id of kms-v2 provider {PROVIDER} other than the current" in line
    assert old_key_id not in line
    assert new_key_id not in line

    said: list[str] = []
    outcome = asyncio.run(
        apply_rotation(
            plane.config,
            f"kms:{PROVIDER}",
            kube=KubeTarget(kubeconfig=plane.server.kubeconfig),
            report=said.append,
            apiservers=[plane.server.url],
            etcd=EtcdAccess(plane.etcd_config(), plane.server.etcd_prefix),
            timeout=TAKE_UP_SECONDS,
            poll=1.0,
            now=datetime.now(UTC),
        )
    )
    log = "\n".join(said)
    assert outcome.complete, log
    assert outcome.ran == STAGES, log
    assert any("taken it up" in line for line in said), log
    assert outcome.reencrypt is not None, log
    assert outcome.reencrypt["rewritten"] >= COUNT, log
    assert outcome.verify is not None, log
    assert outcome.verify["passed"], log
    assert outcome.verify["kek"] == {"provider": PROVIDER, "keyIdHash": key_id_hash(new_key_id)}

    assert {plane.stored_key_id(name) for name in names} == {new_key_id}
    every = etcd_values(plane.etcd, f"{plane.server.etcd_prefix}/secrets/", prefix=True)
    assert {kms_record(value, PROVIDER).key_id for value in every.values()} == {new_key_id}
    assert _verify(plane, kek).passed
    for name in names:
        out = plane.server.kubectl(
            "get", "secret", name, "-n", NAMESPACE, "-o", "jsonpath={.data.v}"
        )
        assert base64.b64decode(out.stdout).decode() == f"value-{name}", name
    print(f"KEK rotation of {COUNT} Secrets: {time.monotonic() - started:.1f}s")
