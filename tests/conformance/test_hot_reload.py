"""Hot reload against real apiservers: ``sealbox config loaded`` tells which file each one runs.

Two kube-apiservers form one control plane (one etcd prefix, one serving certificate, one token
file), each started with ``--encryption-provider-config-automatic-reload`` on a file of its own.
The first file is rewritten while both run; kube-apiserver re-reads it within about a minute (its
poll), and the test waits for that reload by watching its ``/metrics``, never a fixed sleep.

This also proves the hash: the ``hash`` label the apiserver reports is ``sha256:`` and the SHA-256
of the file's bytes, exactly what :func:`sealbox.encryption.config_hash` computes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from sealbox.cli import app
from sealbox.encryption import config_hash, parse_loaded
from tests.integration.etcd_server import EtcdServer, EtcdTLSFiles, make_tls_files
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.integration.processes import wait_until

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
class ControlPlane:
    first: KubeApiserver
    second: KubeApiserver
    first_file: Path
    second_file: Path
    kubeconfig: Path  # a client certificate both accept; its server is the first apiserver


def _flags(config: Path, client_ca: Path) -> list[str]:
    return [
        f"--encryption-provider-config={config}",
        "--encryption-provider-config-automatic-reload",
        f"--client-ca-file={client_ca}",
    ]


def _kubeconfig(path: Path, server: KubeApiserver, tls: EtcdTLSFiles) -> Path:
    document = server.kubeconfig_document("admin")
    document["users"] = [
        {
            "name": "admin",
            "user": {"client-certificate": str(tls.client_cert), "client-key": str(tls.client_key)},
        }
    ]
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def control_plane(
    etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    """Two apiservers of one control plane, as kubeadm builds it: one etcd prefix, one serving
    certificate, one client CA (the kubeconfig's user is CN=sealbox with get on /metrics)."""
    root = tmp_path_factory.mktemp("hot-reload")
    tls = make_tls_files(root / "client-ca")
    first_file, second_file = root / "first.yaml", root / "second.yaml"
    for path in (first_file, second_file):
        path.write_text(_IDENTITY)
    with running_apiserver(root / "first", etcd_server, flags=_flags(first_file, tls.ca)) as first:
        first.kubectl(
            "create", "clusterrolebinding", "sealbox-metrics",
            "--clusterrole=system:monitoring", "--user=sealbox",
        )  # fmt: skip
        (root / "second" / "certs").mkdir(parents=True)
        for name in ("apiserver.crt", "apiserver.key"):
            shutil.copy(first.directory / "certs" / name, root / "second" / "certs" / name)
        with running_apiserver(
            root / "second",
            etcd_server,
            flags=_flags(second_file, tls.ca),
            etcd_prefix=first.etcd_prefix,
        ) as second:
            kubeconfig = _kubeconfig(root / "kubeconfig.yaml", first, tls)
            yield ControlPlane(first, second, first_file, second_file, kubeconfig)


def _loaded(plane: ControlPlane, file: Path, *servers: KubeApiserver, json_out: bool) -> Result:
    argv = ["config", "loaded", "--kubeconfig", str(plane.kubeconfig)]
    for server in servers:
        argv += ["--apiserver", server.url]
    argv += [str(file), *(["-o", "json"] if json_out else [])]
    return CliRunner().invoke(app, argv, catch_exceptions=False)


def _document(result: Result) -> dict[str, object]:
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def _rows(result: Result) -> dict[str, dict[str, object]]:
    rows = _document(result)["apiservers"]
    assert isinstance(rows, list)
    return {row["url"]: row for row in rows}


def _reported_hash(server: KubeApiserver) -> str | None:
    status, body = server.get("/metrics")
    assert status == 200, body[:200]
    found = parse_loaded(body.decode())
    return None if found is None else found.hashes[0]


def _replace(path: Path, text: str) -> None:
    """Write ``text`` the way a careful operator does: a new file renamed over the old one, so
    the apiserver never reads half a file."""
    staged = path.with_suffix(".new")
    staged.write_text(text)
    os.replace(staged, path)


class _Every:
    """A check that asks the apiserver at most once per ``seconds`` (its ``/metrics`` is large):
    in between it answers False at once, and :func:`wait_until` keeps polling."""

    def __init__(self, seconds: float, check: Callable[[], bool]) -> None:
        self.seconds = seconds
        self.check = check
        self.next = 0.0

    def __call__(self) -> bool:
        if time.monotonic() < self.next:
            return False
        self.next = time.monotonic() + self.seconds
        return self.check()


def test_config_loaded_follows_a_hot_reload(control_plane: ControlPlane) -> None:
    plane = control_plane
    old = plane.first_file.read_bytes()
    old_hash = "sha256:" + hashlib.sha256(old).hexdigest()
    assert config_hash(old) == old_hash
    assert _reported_hash(plane.first) == old_hash  # the apiserver's own spelling of the hash

    # both loaded the file they started with: by the kubeconfig's server, and each by URL
    assert _loaded(plane, plane.first_file, json_out=False).exit_code == 0
    both = _loaded(plane, plane.first_file, plane.first, plane.second, json_out=True)
    assert both.exit_code == 0, both.output
    assert _document(both)["loaded"] is True
    for row in _rows(both).values():
        assert row["loaded_hash"] == row["expected_hash"] == old_hash
        assert row["match"] is True

    # a new key goes in first; until the apiserver's next poll it still runs the old file
    _replace(plane.first_file, _with_aesgcm())
    new_hash = config_hash(plane.first_file.read_bytes())
    pending = _loaded(plane, plane.first_file, plane.first, json_out=False)
    assert pending.exit_code == 1, pending.output
    assert f"not loaded: {plane.first.url}" in " ".join(pending.stdout.split())

    polled = _Every(1.0, lambda: _reported_hash(plane.first) == new_hash)
    wait_until(polled, timeout=_RELOAD_SECONDS, what="the first apiserver's reload")

    reloaded = _loaded(plane, plane.first_file, plane.first, json_out=True)
    assert reloaded.exit_code == 0, reloaded.output
    row = _rows(reloaded)[plane.first.url]
    assert row["loaded_hash"] == new_hash
    assert row["last_reload"] is not None  # the metric's timestamp of the successful reload

    # one control plane, two files: the second apiserver still runs the old one
    split = _loaded(plane, plane.first_file, plane.first, plane.second, json_out=False)
    assert split.exit_code == 1, split.output
    text = " ".join(split.stdout.split())
    assert f"not loaded: {plane.second.url}" in text
    assert f"not loaded: {plane.first.url}" not in text
    rows = _rows(_loaded(plane, plane.second_file, plane.first, plane.second, json_out=True))
    assert rows[plane.first.url]["match"] is False
    assert rows[plane.second.url]["match"] is True
    assert rows[plane.second.url]["last_reload"] is None  # it never reloaded
