"""The loaded-everywhere gate against a real two-apiserver control plane.

Two kube-apiservers share one etcd prefix, one serving certificate and one token file, each with
``--encryption-provider-config-automatic-reload`` on its own copy of the config. The first binds
``0.0.0.0`` (random tokens) so the address the ``kubernetes`` EndpointSlice advertises, the
host's, reaches it; the second runs no endpoint reconciler, so the slice holds still (two
apiservers on one host but different ports would rewrite its port in turn).

The reload test waits for one apiserver's own poll (once a minute) once, by polling
their ``/metrics``; it shares the apiservers with the other tests of the module. A third
apiserver encrypts Secrets through a real ``sealbox kms serve`` for the KMS v2 key_id gate.
"""

from __future__ import annotations

import base64
import copy
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lightkube.config.kubeconfig import SingleConfig

from sealbox.encryption import config_hash
from sealbox.errors import KubeForbidden, RotationBlocked
from sealbox.kms import key_id_hash
from sealbox.kms.backends import local
from sealbox.kube import KubeTarget, load_config
from sealbox.rotate.gate import (
    discover_apiservers,
    key_id_hashes,
    loaded_everywhere,
    short_hash,
    urls_from_endpoint_slice,
    wait_kms_key_id,
    wait_loaded,
)
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

_RELOAD_SECONDS = 150.0  # the poll is every minute; a loaded 2-core machine may be late
_IDENTITY = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
"""


def _with_aesgcm() -> str:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return _IDENTITY.replace(
        "      - identity: {}\n",
        f"      - aesgcm:\n          keys:\n            - name: k1\n              secret: {key}\n"
        "      - identity: {}\n",
    )


@dataclass(frozen=True)
class Plane:
    first: KubeApiserver
    second: KubeApiserver
    first_file: Path
    second_file: Path
    kubeconfig: Path  # a cluster-admin both accept; its server is the first

    @property
    def urls(self) -> list[str]:
        return [self.first.url, self.second.url]

    def config(self, user: str = "") -> SingleConfig:
        """The shared admin's config, or one of the first apiserver's token users'."""
        kubeconfig = self.first.kubeconfig_for(user) if user else self.kubeconfig
        return load_config(KubeTarget(kubeconfig=kubeconfig))


def _host_address() -> str:
    """The address of the interface the default route leaves by (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))
        return str(probe.getsockname()[0])


def _pki(root: Path, address: str) -> None:
    """A self-signed serving pair for 127.0.0.1 and ``address`` where kube-apiserver looks for
    one (bound to 0.0.0.0, the pair it would make for itself names ``localhost`` only); it is
    also the client CA, and ``client.crt`` a cluster-admin (``system:masters``) both accept."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("sealbox-test-apiserver")
    ips = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address(address)]
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), *map(x509.IPAddress, ips)]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]  # Go nests EKUs
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = (
        _builder(_name("sealbox-rotate", "system:masters"), name, client_key)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (root / "first" / "certs").mkdir(parents=True)
    for path, pair in (
        (root / "first" / "certs" / "apiserver", (cert, key)),
        (root / "client", (client, client_key)),
    ):
        path.with_suffix(".crt").write_bytes(pair[0].public_bytes(serialization.Encoding.PEM))
        path.with_suffix(".key").write_bytes(
            pair[1].private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _name(common: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _kubeconfig(path: Path, server: KubeApiserver, root: Path) -> Path:
    """The kubeconfig of the client certificate both apiservers accept (server: the first)."""
    document = server.kubeconfig_document("admin")
    client = {
        "client-certificate": str(root / "client.crt"),
        "client-key": str(root / "client.key"),
    }
    document["users"] = [{"name": "admin", "user": client}]
    path.write_text(yaml.safe_dump(document))
    return path


def _flags(config: Path, root: Path) -> list[str]:
    return [
        f"--encryption-provider-config={config}",
        "--encryption-provider-config-automatic-reload",
        f"--client-ca-file={root / 'first' / 'certs' / 'apiserver.crt'}",
    ]


@pytest.fixture(scope="module")
def plane(etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    root = tmp_path_factory.mktemp("rotate-gate")
    first_file, second_file = root / "first.yaml", root / "second.yaml"
    for path in (first_file, second_file):
        path.write_text(_IDENTITY)
    address = _host_address()
    _pki(root, address)
    exposed = ["--bind-address=0.0.0.0", f"--advertise-address={address}"]
    with running_apiserver(
        root / "first", etcd_server, flags=[*_flags(first_file, root), *exposed]
    ) as first:
        (root / "second" / "certs").mkdir(parents=True)
        for name in ("apiserver.crt", "apiserver.key"):
            shutil.copy(first.directory / "certs" / name, root / "second" / "certs" / name)
        with running_apiserver(
            root / "second",
            etcd_server,
            flags=[*_flags(second_file, root), "--endpoint-reconciler-type=none"],
            etcd_prefix=first.etcd_prefix,
        ) as second:
            kubeconfig = _kubeconfig(root / "kubeconfig.yaml", first, root)
            yield Plane(first, second, first_file, second_file, kubeconfig)


def _replace(path: Path, text: str) -> None:
    """A new file renamed over the old one, so the apiserver never reads half a file."""
    staged = path.with_suffix(".new")
    staged.write_text(text)
    os.replace(staged, path)


def _endpoint_slice(server: KubeApiserver) -> dict[str, Any]:
    result = server.kubectl(
        "get", "endpointslices.discovery.k8s.io", "kubernetes", "-n", "default", "-o", "json"
    )
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def test_discover_finds_the_address_and_port_the_endpoint_slice_advertises(plane: Plane) -> None:
    wait_until(
        lambda: bool(_endpoint_slice(plane.first).get("endpoints")),
        timeout=60,
        what="the kubernetes EndpointSlice",
    )
    document = _endpoint_slice(plane.first)
    (endpoint,) = document["endpoints"]
    (address,) = endpoint["addresses"]
    assert address != "127.0.0.1"  # the host's address, not the bind address
    assert [port["port"] for port in document["ports"]] == [plane.first.port]

    config = plane.config()
    found = discover_apiservers(config)
    assert found == [f"https://{address}:{plane.first.port}"]
    # the URL found is one the gate can ask (the serving certificate names the host address)
    (view,) = loaded_everywhere(config, found, config_hash(plane.first_file.read_bytes()))
    assert view.error is None, view.error
    assert view.loaded


def test_the_endpoint_slice_parsing_keeps_ready_addresses_and_falls_back(plane: Plane) -> None:
    real = _endpoint_slice(plane.first)
    port = plane.first.port
    (address,) = real["endpoints"][0]["addresses"]

    more = copy.deepcopy(real)
    more["endpoints"] += [
        {"addresses": ["10.0.0.12"], "conditions": {"ready": True}},
        {"addresses": ["10.0.0.13"], "conditions": {"ready": False}},  # terminating: skipped
        {"addresses": ["fd00::14"]},  # no condition: read as ready, as the API says
    ]
    assert urls_from_endpoint_slice(more) == [
        f"https://{address}:{port}",
        f"https://10.0.0.12:{port}",
        f"https://[fd00::14]:{port}",
    ]

    none_ready = copy.deepcopy(real)
    for endpoint in none_ready["endpoints"]:
        endpoint["conditions"] = {"ready": False}
    assert urls_from_endpoint_slice(none_ready) == []
    assert urls_from_endpoint_slice({**real, "endpoints": []}) == []
    assert urls_from_endpoint_slice({**real, "ports": []}) == []


def test_discover_refuses_to_guess_when_the_user_may_not_read_the_endpoint_slice(
    plane: Plane,
) -> None:
    with pytest.raises(KubeForbidden) as refused:
        discover_apiservers(plane.config("alice"))
    assert "--apiserver" in str(refused.value)


def _still_runs(url: str, old: str) -> str:
    return (
        f"{url} still runs {short_hash(old)} (not this file): it re-reads its file about once a "
        "minute with --encryption-provider-config-automatic-reload; without that flag restart it"
    )


def test_wait_loaded_names_the_apiserver_that_lags_and_waits_for_it(plane: Plane) -> None:
    config = plane.config()
    old = config_hash(plane.first_file.read_bytes())
    assert all(view.loaded and view.loaded_hash == old for view in loaded_everywhere(
        config, plane.urls, old
    ))  # fmt: skip

    # the first apiserver's file changes; the gate waits for its poll and says what it waits for
    _replace(plane.first_file, _with_aesgcm())
    new = config_hash(plane.first_file.read_bytes())
    said: list[str] = []
    wait_loaded(config, [plane.first.url], new, timeout=_RELOAD_SECONDS, poll=1, report=said.append)
    assert said[0] == _still_runs(plane.first.url, old)
    assert said[-1] == f"{plane.first.url} has loaded {short_hash(new)}"
    assert len(said) == 2  # an unchanged reason is said once

    # the second still runs the old file: the gate holds and names it, and only it
    said.clear()
    with pytest.raises(RotationBlocked) as blocked:
        wait_loaded(config, plane.urls, new, timeout=1, poll=0.2, report=said.append)
    assert blocked.value.lagging == (plane.second.url,)
    assert blocked.value.exit_code == 3
    message = str(blocked.value)
    assert message.startswith(f"1 of 2 apiservers have not loaded {short_hash(new)} after 1s: ")
    assert f"{plane.second.url} still runs {short_hash(old)}" in message
    assert plane.first.url not in message
    assert said == [_still_runs(plane.second.url, old)]

    # (the gate opening once every apiserver has reloaded is what every stage of
    # tests/rotate/test_acceptance.py waits for; one reload wait here is enough)

    # a stopped apiserver is named as unreachable, not an exception, and holds the gate
    plane.second.process.stop()
    first_view, second_view = loaded_everywhere(config, plane.urls, new)
    assert first_view.loaded
    assert not second_view.loaded
    assert second_view.error is not None
    assert second_view.error.startswith("unreachable ("), second_view.error
    assert second_view.error == "unreachable (connection refused)"
    said.clear()
    with pytest.raises(RotationBlocked) as stopped:
        wait_loaded(config, plane.urls, new, timeout=1, poll=0.2, report=said.append)
    assert stopped.value.lagging == (plane.second.url,)
    assert f"{plane.second.url}: unreachable (" in str(stopped.value)
    assert said == [f"{plane.second.url}: {second_view.error}"]


_KMS_PROVIDER = "gate-kms"


@pytest.fixture(scope="module")
def kms_apiserver(
    etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningPlugin, KubeApiserver]]:
    """An apiserver whose Secrets go through a real ``sealbox kms serve`` (local keyring)."""
    with socket_dir() as workdir:  # short path: unix sockets allow ~107 bytes
        local.create_keyring(workdir / "kek.key")
        address, port = metrics_address()
        socket = str(workdir / "kms.sock")
        plugin_yaml = write_plugin_config(
            workdir, socket, {"type": "local", "keyFile": "kek.key"}, metricsAddress=address
        )
        config = workdir / "encryption-config.yaml"
        kms = {"apiVersion": "v2", "name": _KMS_PROVIDER, "endpoint": f"unix://{socket}"}
        providers = [{"kms": kms}, {"identity": {}}]
        document = {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "EncryptionConfiguration",
            "resources": [{"resources": ["secrets"], "providers": providers}],
        }
        config.write_text(yaml.safe_dump(document))
        with run_plugin(plugin_yaml, metrics_port=port) as plugin:
            directory = tmp_path_factory.mktemp("rotate-gate-kms")
            flags = [f"--encryption-provider-config={config}"]
            with running_apiserver(directory, etcd_server, flags=flags) as server:
                yield plugin, server


def test_the_kms_key_id_an_apiserver_has_taken_up(
    kms_apiserver: tuple[RunningPlugin, KubeApiserver],
) -> None:
    plugin, server = kms_apiserver
    config = load_config(KubeTarget(kubeconfig=server.kubeconfig))
    current = key_id_hash(str(plugin.status().key_id))
    server.kubectl("create", "secret", "generic", "gate-probe", "--from-literal=k=v")

    assert current in key_id_hashes(config, server.url)
    assert current in key_id_hashes(config, server.url, provider=_KMS_PROVIDER)
    assert key_id_hashes(config, server.url, provider="another") == set()

    said: list[str] = []
    wait_kms_key_id(config, [server.url], current, timeout=5, report=said.append)
    assert said == []

    rotated = key_id_hash("a key_id the plugin has not reported")
    with pytest.raises(RotationBlocked) as blocked:
        wait_kms_key_id(
            config,
            [server.url],
            rotated,
            timeout=1,
            poll=0.2,
            report=said.append,
            provider=_KMS_PROVIDER,
        )
    assert blocked.value.lagging == (server.url,)
    line = (
        f"{server.url} has not taken up key_id {short_hash(rotated)} yet: it asks provider "
        f"{_KMS_PROVIDER}'s plugin's Status about once a minute"
    )
    assert said == [line]
    assert str(blocked.value) == (
        f"1 of 1 apiservers have not taken up key_id {short_hash(rotated)} after 1s: {line}"
    )
