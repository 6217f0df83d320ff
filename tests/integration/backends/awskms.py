"""A real moto server standing in for AWS KMS, and the ``awskms_harness`` fixture.

moto runs as its own process (``python -m moto.server``) on a free loopback port, once per test
session, with its log in a temp dir; it is stopped by its pid. moto keeps its keys in memory, so
an outage cannot be a server restart: each harness puts a :class:`LoopbackProxy` in front of it
and points the backend at the proxy. ``stop`` closes the proxy's listener and cuts every open
connection (new connections are refused, pooled keep-alive ones are reset); ``start`` listens on
the same port again, and the keys are all still there.

Tests use the fixtures by importing them (``from tests.integration.backends.awskms import …``).
In-process backends need :data:`AWS_TEST_ENV` in ``os.environ``: request ``aws_env``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.integration.harness import BackendHarness
from tests.integration.processes import ManagedProcess, free_port, port_open, wait_until

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

__all__ = [
    "AWS_TEST_ENV",
    "REGION",
    "LoopbackProxy",
    "MotoKMS",
    "aws_env",
    "awskms_harness",
    "moto_kms",
]

REGION = "us-east-1"
# Dummy credentials only: moto accepts anything, and nothing here may reach real AWS.
AWS_TEST_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# Variables that would make boto3 look elsewhere for credentials than AWS_TEST_ENV says.
_FOREIGN_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CA_BUNDLE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
)


def _cut(sock: socket.socket) -> None:
    """Shut down (which wakes a thread blocked in recv) and close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class LoopbackProxy:
    """A TCP relay ``127.0.0.1:port`` → ``127.0.0.1:target_port`` that can be cut and restored."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._accepter: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Accept connections again (on the same port)."""
        if self._listener is not None:
            return
        listener = socket.create_server(("127.0.0.1", self.port))  # sets SO_REUSEADDR
        listener.settimeout(0.05)
        self._stopping.clear()
        self._listener = listener
        self._accepter = threading.Thread(
            target=self._accept_loop, args=(listener,), name="moto-proxy-accept", daemon=True
        )
        self._accepter.start()

    def stop(self) -> None:
        """Refuse new connections and reset every open one; returns once that is true."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        if self._accepter is not None:
            self._accepter.join(timeout=5)
            self._accepter = None
        listener.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for sock in connections:
            _cut(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _cut(downstream)
                continue
            downstream.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._stopping.is_set():
                    _cut(downstream)
                    _cut(upstream)
                    return
                self._connections.update((downstream, upstream))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(
                    target=self._pump, args=(source, sink), name="moto-proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.difference_update((source, sink))
            _cut(source)
            _cut(sink)


@dataclass
class MotoKMS:
    """A running moto server and an admin client talking to it directly (not via a proxy)."""

    process: ManagedProcess
    port: int
    admin: KMSClient

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def create_key(self, **kwargs: Any) -> str:
        """A new key's ARN (symmetric ENCRYPT_DECRYPT unless ``kwargs`` say otherwise)."""
        meta = self.admin.create_key(Description="sealbox test KEK", **kwargs)["KeyMetadata"]
        return meta["Arn"]

    def key_with_alias(self) -> tuple[str, str]:
        """A new key and a new unique alias pointing at it: ``(alias, key ARN)``."""
        arn = self.create_key()
        alias = f"alias/sealbox-test-{secrets.token_hex(6)}"
        self.admin.create_alias(AliasName=alias, TargetKeyId=arn.rsplit("/", 1)[1])
        return alias, arn

    def move_alias(self, alias: str, arn: str) -> None:
        self.admin.update_alias(AliasName=alias, TargetKeyId=arn.rsplit("/", 1)[1])

    def alias_target(self, alias: str) -> str:
        return self.admin.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]


@pytest.fixture(scope="session")
def moto_kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoKMS]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    process = ManagedProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=log_path,
        env=AWS_TEST_ENV,
    )
    process.start()
    admin: KMSClient | None = None
    try:
        try:
            wait_until(lambda: port_open(port), timeout=60, what="moto server")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; log:\n{process.log_tail()}") from None
        admin = boto3.client(
            "kms",
            region_name=REGION,
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto's dummy credentials
        )
        yield MotoKMS(process=process, port=port, admin=admin)
    finally:
        if admin is not None:
            admin.close()
        process.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy AWS credentials in ``os.environ`` (for backends built in this process)."""
    for name in _FOREIGN_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(AWS_TEST_ENV)


@pytest.fixture
def awskms_harness(moto_kms: MotoKMS) -> Iterator[BackendHarness]:
    """An ``awskms`` backend config on a fresh key behind a fresh alias, reached via a proxy.

    ``rotate`` points the alias at a new key (the old one stays enabled, so old ciphertext still
    decrypts): key_id must change. ``stop``/``start`` cut and restore the proxy.
    """
    alias, _ = moto_kms.key_with_alias()
    proxy = LoopbackProxy(moto_kms.port)
    proxy.start()

    def rotate() -> None:
        moto_kms.move_alias(alias, moto_kms.create_key())

    try:
        yield BackendHarness(
            kind="awskms",
            config={
                "type": "awskms",
                "keyId": alias,
                "region": REGION,
                "endpointUrl": proxy.url,
                "timeoutSeconds": 2,
                "maxAttempts": 2,
            },
            rotate=rotate,
            stop=proxy.stop,
            start=proxy.start,
            env=dict(AWS_TEST_ENV),
        )
    finally:
        proxy.stop()
