"""The sealing controller's endpoints through the REAL apiserver's service proxy.

A stand-in controller (:class:`StandInController`: a small HTTP server that really opens and
re-seals values with its private keys) listens on a non-loopback address of this host, behind a
selector-less Service (``tests/integration/service_endpoint.py``); :class:`SealingService` finds
the Service's port name and reaches it exactly as kubeseal does.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import KubeForbidden, KubeNotFound, UnsealError
from sealbox.kube import KubeTarget, SealingService
from sealbox.sealing import (
    decode_value,
    encode_value,
    label_for,
    load_certificate,
    scope_from_annotations,
    seal,
    seal_secret,
)
from sealbox.sealing.hybrid import unseal  # the package's `unseal` name is also a module's
from tests.cli.test_seal_cli import sealing_cert
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.service_endpoint import ServiceEndpoint, service_endpoint


@dataclass
class StandInController:
    """What the sealing controller's HTTP server answers (spec §3.4), with real cryptography:
    ``keys`` newest first; cert.pem is the newest's; verify opens every item with any key;
    rotate re-seals every item with the newest."""

    keys: list[rsa.RSAPrivateKey]
    requests: list[str] = field(default_factory=list)

    def label(self, sealed: dict[str, Any]) -> bytes:
        meta = sealed["metadata"]
        scope = scope_from_annotations(meta.get("annotations"))
        return label_for(scope, meta.get("namespace", ""), meta["name"])

    def opened(self, sealed: dict[str, Any]) -> dict[str, bytes]:
        label = self.label(sealed)
        return {
            item: unseal(self.keys, decode_value(text, item), label)
            for item, text in sealed["spec"]["encryptedData"].items()
        }

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        self.requests.append(f"{method} {path}")
        if path == "/v1/cert.pem":
            return 200, sealing_cert(self.keys[0])
        sealed = yaml.safe_load(body)
        try:
            items = self.opened(sealed)
        except UnsealError:
            return (409 if path == "/v1/verify" else 500), b"cannot decrypt\n"
        if path == "/v1/verify":
            return 200, b""
        label, public = self.label(sealed), self.keys[0].public_key()
        sealed["spec"]["encryptedData"] = {
            item: encode_value(seal(public, value, label)) for item, value in items.items()
        }
        return 200, json.dumps(sealed).encode()


@dataclass
class RunningStandIn:
    controller: StandInController
    host: str
    port: int


@contextlib.contextmanager
def serving(controller: StandInController, host: str) -> Iterator[RunningStandIn]:
    """``controller`` on an HTTP server at ``host`` (a free port), in a thread, until exit."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            status, body = controller.answer(self.command, self.path, self.rfile.read(size))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``controller.requests``."""

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningStandIn(controller, host, int(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [_key(), _key()]


@pytest.fixture
def controller_service(
    kube_apiserver: KubeApiserver,
    kube_namespace: str,
    proxyable_address: str,
    keys: list[rsa.RSAPrivateKey],
) -> Iterator[tuple[StandInController, ServiceEndpoint]]:
    """A stand-in controller holding ``keys`` behind Service ``sealer`` (port name ``web``)."""
    controller = StandInController(list(keys))
    with (
        serving(controller, proxyable_address) as running,
        service_endpoint(
            kube_apiserver, kube_namespace, "sealer", running.host, running.port, port_name="web"
        ) as endpoint,
    ):
        yield controller, endpoint


def _sealed(public: rsa.RSAPublicKey, namespace: str) -> dict[str, Any]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "stringData": {"password": "example-value"},
    }
    return seal_secret(secret, public)


def _service(apiserver: KubeApiserver, endpoint: ServiceEndpoint, user: str = "admin") -> Any:
    return SealingService(
        KubeTarget(apiserver.kubeconfig_for(user)), name=endpoint.name, namespace=endpoint.namespace
    )


def test_certificate_through_the_proxy_of_the_first_named_port(
    kube_apiserver: KubeApiserver,
    controller_service: tuple[StandInController, ServiceEndpoint],
    keys: list[rsa.RSAPrivateKey],
) -> None:
    controller, endpoint = controller_service
    with _service(kube_apiserver, endpoint) as service:
        pem = service.certificate()
        assert service.base_path() == endpoint.proxy_path
    assert endpoint.proxy_path.endswith("/services/http:sealer:web/proxy")
    served = load_certificate(pem).public_key.public_numbers()
    assert served == keys[0].public_key().public_numbers()
    assert controller.requests == ["GET /v1/cert.pem"]


def test_verify_is_200_or_409_and_rotate_reseals_with_the_newest_key(
    kube_apiserver: KubeApiserver,
    controller_service: tuple[StandInController, ServiceEndpoint],
    keys: list[rsa.RSAPrivateKey],
) -> None:
    controller, endpoint = controller_service
    old = _sealed(keys[1].public_key(), endpoint.namespace)
    foreign = _sealed(_key().public_key(), endpoint.namespace)
    with _service(kube_apiserver, endpoint) as service:
        assert service.verify(json.dumps(old).encode()) is True
        assert service.verify(yaml.safe_dump(foreign).encode()) is False
        rotated = service.rotate(json.dumps(old).encode())
    assert rotated["metadata"] == old["metadata"]
    text = rotated["spec"]["encryptedData"]["password"]
    assert text != old["spec"]["encryptedData"]["password"]
    label = label_for(scope_from_annotations(None), endpoint.namespace, "db")
    assert unseal([keys[0]], decode_value(text), label) == b"example-value"
    assert controller.requests == ["POST /v1/verify", "POST /v1/verify", "POST /v1/rotate"]


def test_a_missing_service_names_the_flags(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    target = KubeTarget(kube_apiserver.kubeconfig)
    with (
        SealingService(target, name="absent", namespace=kube_namespace) as service,
        pytest.raises(KubeNotFound, match="--controller-name and --controller-namespace"),
    ):
        service.certificate()


def test_rbac_refusal_is_forbidden(
    kube_apiserver: KubeApiserver, controller_service: tuple[StandInController, ServiceEndpoint]
) -> None:
    controller, endpoint = controller_service
    with (
        _service(kube_apiserver, endpoint, user="alice") as service,
        pytest.raises(KubeForbidden, match="alice"),
    ):
        service.certificate()
    assert controller.requests == []


def test_the_stand_in_opens_only_with_its_keys(keys: list[rsa.RSAPrivateKey]) -> None:
    """The stand-in is real cryptography: a value for another key is refused."""
    controller = StandInController(list(keys))
    assert (
        controller.answer(
            "POST", "/v1/verify", json.dumps(_sealed(_key().public_key(), "n")).encode()
        )[0]
        == 409
    )
