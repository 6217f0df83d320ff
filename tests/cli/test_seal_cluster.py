"""``sealbox seal`` with the live controller, through the REAL apiserver's service proxy: the
certificate fetched (``--fetch-cert``, sealing without ``--cert``), ``--validate`` and
``--re-encrypt``; and ``--cert`` as an http:// or file:// URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.sealing import Scope, decode_value, label_for, load_certificate, seal_secret
from sealbox.sealing.hybrid import unseal  # the package's `unseal` name is also a module's
from tests.cli.test_seal_cli import MANIFEST, sealing_cert
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.service_endpoint import service_endpoint
from tests.kube.test_service_proxy import StandInController, serving

runner = CliRunner()
EXPECTED = {"password": b"pl41n-s3cr3t-value", "username": b"admin"}


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [_key(), _key()]


@pytest.fixture
def cluster(
    kube_apiserver: KubeApiserver,
    kube_namespace: str,
    proxyable_address: str,
    keys: list[rsa.RSAPrivateKey],
) -> Iterator[list[str]]:
    """The flags that reach a stand-in controller holding ``keys`` (newest first)."""
    controller = StandInController(list(keys))
    with (
        serving(controller, proxyable_address) as running,
        service_endpoint(
            kube_apiserver, kube_namespace, "sealed-secrets", running.host, running.port
        ),
    ):
        yield [
            "--kubeconfig",
            str(kube_apiserver.kubeconfig),
            "--controller-name",
            "sealed-secrets",
            "--controller-namespace",
            kube_namespace,
        ]


def _opened(key: rsa.RSAPrivateKey, sealed: dict[str, Any]) -> dict[str, bytes]:
    label = label_for(Scope.STRICT, sealed["metadata"]["namespace"], sealed["metadata"]["name"])
    return {
        item: unseal([key], decode_value(text, item), label)
        for item, text in sealed["spec"]["encryptedData"].items()
    }


def test_fetch_cert_and_seal_with_the_live_certificate(
    cluster: list[str], keys: list[rsa.RSAPrivateKey]
) -> None:
    fetched = runner.invoke(app, ["seal", "--fetch-cert", *cluster])
    assert fetched.exit_code == 0, fetched.stderr
    served = load_certificate(fetched.stdout.encode()).public_key.public_numbers()
    assert served == keys[0].public_key().public_numbers()
    sealed = runner.invoke(app, ["seal", *cluster], input=MANIFEST)
    assert sealed.exit_code == 0, sealed.stderr
    assert _opened(keys[0], json.loads(sealed.stdout)) == EXPECTED


def test_validate_says_which_sealed_secret_the_controller_cannot_open(
    tmp_path: Path, cluster: list[str], keys: list[rsa.RSAPrivateKey]
) -> None:
    secret = yaml.safe_load(MANIFEST)
    good = seal_secret(secret, keys[1].public_key())
    foreign = seal_secret(
        {**secret, "metadata": {"name": "other", "namespace": "prod"}}, _key().public_key()
    )
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(good))
    (tmp_path / "both.yaml").write_text(yaml.safe_dump_all([good, foreign]))
    ok = runner.invoke(app, ["seal", "--validate", str(tmp_path / "good.yaml"), *cluster])
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout == ""
    bad = runner.invoke(app, ["seal", "--validate", str(tmp_path / "both.yaml"), *cluster])
    assert bad.exit_code == 2
    assert bad.stderr.startswith(
        f"error: {tmp_path / 'both.yaml'}: unable to decrypt sealed secret: prod/other ("
    )
    assert bad.stderr.count("\n") == 1


def test_re_encrypt_rewrites_the_file_in_place_with_the_newest_key(
    tmp_path: Path, cluster: list[str], keys: list[rsa.RSAPrivateKey]
) -> None:
    old = seal_secret(yaml.safe_load(MANIFEST), keys[1].public_key())
    path = tmp_path / "sealed.yaml"
    path.write_text(yaml.safe_dump(old))
    path.chmod(0o644)
    result = runner.invoke(app, ["seal", "--re-encrypt", str(path), *cluster])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert not path.read_text().startswith("{")  # the file's own format
    assert path.stat().st_mode & 0o777 == 0o644
    rotated = yaml.safe_load(path.read_text())
    assert _opened(keys[0], rotated) == EXPECTED
    # from stdin, the result is printed (JSON by default, as kubeseal)
    printed = runner.invoke(app, ["seal", "--re-encrypt", *cluster], input=yaml.safe_dump(old))
    assert printed.exit_code == 0, printed.stderr
    assert _opened(keys[0], json.loads(printed.stdout)) == EXPECTED


def test_a_missing_controller_is_one_error_naming_the_flags(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    args = ["seal", "--kubeconfig", str(kube_apiserver.kubeconfig)]
    result = runner.invoke(app, [*args, "--controller-namespace", kube_namespace], input=MANIFEST)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: service {kube_namespace}/sealed-secrets-controller: not found; name the "
        "sealing controller's Service with --controller-name and --controller-namespace (the "
        "Helm chart calls it sealed-secrets), or seal offline with --cert\n"
    )


def test_cert_from_http_and_file_urls(tmp_path: Path) -> None:
    key = _key()
    (tmp_path / "cluster.pem").write_bytes(sealing_cert(key))

    class Serve(StandInController):
        def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
            return (200, sealing_cert(self.keys[0])) if path == "/cert.pem" else (404, b"")

    with serving(Serve([key]), "127.0.0.1") as running:
        url = f"http://127.0.0.1:{running.port}/cert.pem"
        for cert in (url, f"file://{tmp_path / 'cluster.pem'}"):
            result = runner.invoke(
                app, ["seal", "--cert", cert], input=MANIFEST, env={"NO_PROXY": "*"}
            )
            assert result.exit_code == 0, result.stderr
            assert _opened(key, json.loads(result.stdout)) == EXPECTED
        missing = runner.invoke(
            app, ["seal", "--cert", url + "x"], input=MANIFEST, env={"NO_PROXY": "*"}
        )
    assert missing.exit_code == 2
    assert (
        missing.stderr
        == f"error: --cert {url}x: HTTP 404 Not Found; expected the PEM certificate\n"
    )
