"""kubeseal's whole path, through a real kube-apiserver: ``sealbox seal`` reaches the running
``sealbox controller sealing`` through the apiserver's service proxy (as kubeseal does, no
``--cert``), the independent reference unsealer opens what it sealed with the key the controller
stored, and the controller (watching every namespace, its default) unseals it into a Secret in
another namespace. ``--fetch-cert``, ``--validate`` and ``--re-encrypt`` take the same path.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.controllers.sealing import KEY_LABEL
from tests.controllers.sealing.controller_support import (
    WAIT_SECONDS,
    apply,
    secret_data,
    wait_for_condition,
)
from tests.controllers.sealing.replicas import REPO, SealingReplica
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import wait_until
from tests.integration.service_endpoint import service_endpoint
from tests.sealing import reference

pytestmark = pytest.mark.integration

SERVICE = "sealed-secrets-controller"  # kubeseal's default name; the namespace is the key one


def _namespace(apiserver: KubeApiserver, prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(3)}"
    apiserver.kubectl("create", "namespace", name)
    apiserver.kubectl("create", "serviceaccount", "default", "-n", name)
    return name


@pytest.fixture(scope="module")
def cluster(
    sealed_secret_crd: KubeApiserver,
    proxyable_address: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KubeApiserver, str, SealingReplica]]:
    """The controller (key namespace of its own, every namespace watched) behind its Service."""
    apiserver = sealed_secret_crd
    keys = _namespace(apiserver, "t-sealing-keys")
    replica = SealingReplica.start(
        "e2e",
        kubeconfig=Path(apiserver.kubeconfig),
        namespace=keys,
        directory=tmp_path_factory.mktemp("sealing-e2e"),
        flags=["--all-namespaces", "--key-renew-period=0"],
        listen_host="0.0.0.0",
    )
    try:
        wait_until(replica.leading, timeout=WAIT_SECONDS, what="the replica leading")
        with service_endpoint(apiserver, keys, SERVICE, proxyable_address, replica.http_port):
            yield apiserver, keys, replica
    finally:
        replica.process.stop()


def _seal(
    apiserver: KubeApiserver, keys: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "sealbox",
        "seal",
        f"--kubeconfig={apiserver.kubeconfig}",
        f"--controller-namespace={keys}",
        *args,
    ]
    environ = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, env=environ, cwd=REPO
    )


def _key_secrets(apiserver: KubeApiserver, keys: str) -> list[dict[str, Any]]:
    listed = apiserver.kubectl("get", "secrets", "-n", keys, "-l", KEY_LABEL, "-o", "json")
    items: list[dict[str, Any]] = json.loads(listed.stdout)["items"]
    return sorted(items, key=lambda item: item["metadata"]["creationTimestamp"])


def _private_key(secret: dict[str, Any]) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        base64.b64decode(secret["data"]["tls.key"]), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _manifest(name: str, namespace: str, **values: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": values,
        }
    )


def test_fetch_cert_serves_the_stored_certificate(
    cluster: tuple[KubeApiserver, str, SealingReplica],
) -> None:
    apiserver, keys, _ = cluster
    result = _seal(apiserver, keys, "--fetch-cert")
    assert result.returncode == 0, result.stderr
    (stored,) = _key_secrets(apiserver, keys)
    assert result.stdout.encode() == base64.b64decode(stored["data"]["tls.crt"])


def test_sealed_through_the_proxy_opens_with_the_reference_and_unseals_in_the_cluster(
    cluster: tuple[KubeApiserver, str, SealingReplica],
) -> None:
    apiserver, keys, _ = cluster
    apps = _namespace(apiserver, "t-apps")
    result = _seal(apiserver, keys, "-o", "json", stdin=_manifest("db", apps, password="s3cr3t"))
    assert result.returncode == 0, result.stderr
    sealed = json.loads(result.stdout)
    (stored,) = _key_secrets(apiserver, keys)
    value = base64.b64decode(sealed["spec"]["encryptedData"]["password"])
    assert reference.unseal(_private_key(stored), value, f"{apps}/db".encode()) == b"s3cr3t"
    apply(apiserver, sealed)
    wait_until(
        lambda: secret_data(apiserver, "db", apps) == {"password": b"s3cr3t"},
        timeout=WAIT_SECONDS,
        what="the Secret unsealed in another namespace",
    )
    valid = _seal(apiserver, keys, "--validate", stdin=result.stdout)
    assert valid.returncode == 0, valid.stderr
    sealed["metadata"]["name"] = "other"  # the strict label no longer matches
    invalid = _seal(apiserver, keys, "--validate", stdin=json.dumps(sealed))
    assert invalid.returncode == 2
    assert invalid.stderr.startswith(f"error: stdin: unable to decrypt sealed secret: {apps}/other")


def test_re_encrypt_moves_values_to_the_renewed_key(
    cluster: tuple[KubeApiserver, str, SealingReplica], tmp_path: Path
) -> None:
    apiserver, keys, replica = cluster
    apps = _namespace(apiserver, "t-apps")
    sealed_file = tmp_path / "sealed.json"
    result = _seal(apiserver, keys, "-o", "json", stdin=_manifest("api", apps, token="t0k3n"))
    assert result.returncode == 0, result.stderr
    sealed_file.write_text(result.stdout)
    old_cert = replica.cert()
    replica.process.signal(signal.SIGUSR1)  # upstream's "renew now"
    wait_until(
        lambda: replica.cert() not in (None, old_cert),
        timeout=WAIT_SECONDS,
        what="a renewed certificate",
    )
    again = _seal(apiserver, keys, "--re-encrypt", str(sealed_file))
    assert again.returncode == 0, again.stderr
    resealed = json.loads(sealed_file.read_text())
    old_key, new_key = (_private_key(secret) for secret in _key_secrets(apiserver, keys))
    value = base64.b64decode(resealed["spec"]["encryptedData"]["token"])
    label = f"{apps}/api".encode()
    assert reference.unseal(new_key, value, label) == b"t0k3n"
    with pytest.raises(reference.ReferenceUnsealError):
        reference.unseal(old_key, value, label)


def test_no_value_or_private_key_reaches_the_log_events_or_status(
    cluster: tuple[KubeApiserver, str, SealingReplica],
) -> None:
    """Runs last: every value above went through this controller, plus failures whose messages
    are built from the values' neighbourhood (a template that fails on one, a wrong key)."""
    apiserver, keys, replica = cluster
    apps = _namespace(apiserver, "t-apps")
    result = _seal(
        apiserver, keys, "-o", "json", stdin=_manifest("broken", apps, password="n0t-a-map!")
    )
    assert result.returncode == 0, result.stderr
    sealed = json.loads(result.stdout)
    sealed["spec"]["template"]["data"] = {"field": "{{ .password.field }}"}  # not a map
    apply(apiserver, sealed)
    foreign = reference.seal(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
        b"f0reign-value",
        f"{apps}/foreign".encode(),
    )
    apply(
        apiserver,
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "foreign", "namespace": apps},
            "spec": {"encryptedData": {"k": base64.b64encode(foreign).decode()}},
        },
    )
    for name, reason in (("broken", "TemplateError"), ("foreign", "NoMatchingKey")):
        wait_for_condition(apiserver, name, apps, status="False", reason=reason)
    seen = "\n".join(
        [
            replica.process.log_path.read_text(),
            apiserver.kubectl("get", "events", "-A", "-o", "json").stdout,
            apiserver.kubectl("get", "sealedsecrets", "-A", "-o", "json").stdout,
        ]
    )
    values = [b"s3cr3t", b"t0k3n", b"n0t-a-map!", b"f0reign-value"]
    for value in values:
        assert value.decode() not in seen
        assert base64.b64encode(value).decode() not in seen
    for secret in _key_secrets(apiserver, keys):
        pem = base64.b64decode(secret["data"]["tls.key"]).decode()
        assert all(line not in seen for line in pem.splitlines()[1:-1])
