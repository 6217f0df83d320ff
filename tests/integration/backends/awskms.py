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

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.integration.harness import BackendHarness
from tests.integration.processes import ManagedProcess, free_port, port_open, wait_until
from tests.integration.proxy import LoopbackProxy

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

__all__ = [
    "AWS_TEST_ENV",
    "REGION",
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
