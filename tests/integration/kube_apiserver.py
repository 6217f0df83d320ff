"""A real kube-apiserver (and kubectl) for tests, the way controller-runtime's envtest runs one.

The binaries are found like envtest finds them: ``SEALBOX_K8S_ASSETS``, else
``KUBEBUILDER_ASSETS``, else ``../shared/k8s/bin`` beside the repository. Where they are absent
the tests that need them skip with one line saying how to provide them, except under ``CI=true``,
where a missing apiserver fails the run (CI must never pass by testing nothing).

:func:`running_apiserver` starts one on free loopback ports over an etcd (the session's shared
etcd, each apiserver under its own ``--etcd-prefix``), with RBAC on, bearer tokens for an admin
(``system:masters``) and a few plain users, service-account signing keys, and its serving
certificate in a temp dir; it yields a :class:`KubeApiserver` once ``/readyz`` answers 200, and
stops it (printing its log tail if it failed) on exit, also on error.

Fixtures: ``kube_apiserver`` (session scope: one apiserver shared by every test that allows it)
and ``kube_namespace`` (a fresh namespace per test, with the ``default`` ServiceAccount the
controller-manager would have made, so Pods can be dry-run). A test that needs its own flags (an
EncryptionConfiguration, a KMS plugin) calls :func:`running_apiserver` itself.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.etcd_server import EtcdServer
from tests.integration.processes import ManagedProcess, free_port, wait_until

__all__ = [
    "ASSETS_HINT",
    "KubeApiserver",
    "KubeUser",
    "k8s_assets",
    "kube_apiserver",
    "kube_namespace",
    "require_k8s_assets",
    "running_apiserver",
]

REPO = Path(__file__).parents[2]
DEFAULT_ASSETS = REPO.parent / "shared" / "k8s" / "bin"
ASSETS_HINT = (
    "set SEALBOX_K8S_ASSETS (or KUBEBUILDER_ASSETS) to a directory holding kube-apiserver and "
    "kubectl v1.36"
)
_READY_SECONDS = 90.0  # about 3 s on 2 idle cores; much more while the suite loads them


def k8s_assets() -> Path | None:
    """The directory holding ``kube-apiserver`` and ``kubectl``, or None where there is none."""
    for variable in ("SEALBOX_K8S_ASSETS", "KUBEBUILDER_ASSETS"):
        if os.environ.get(variable):
            candidate = Path(os.environ[variable])
            break
    else:
        candidate = DEFAULT_ASSETS
    binaries = (candidate / "kube-apiserver", candidate / "kubectl")
    return candidate if all(os.access(b, os.X_OK) for b in binaries) else None


def require_k8s_assets() -> Path:
    """The assets directory; skip the test (fail it under ``CI=true``) where there is none."""
    assets = k8s_assets()
    if assets is not None:
        return assets
    message = f"no kube-apiserver/kubectl found: {ASSETS_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class KubeUser:
    """A bearer-token user of the test apiserver (``groups`` as the token file grants them)."""

    name: str
    token: str
    groups: tuple[str, ...] = ()


@dataclass
class KubeApiserver:
    """A running kube-apiserver: its URL, CA, users and a kubeconfig per user."""

    process: ManagedProcess
    port: int
    directory: Path
    etcd_prefix: str
    assets: Path
    users: dict[str, KubeUser] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The apiserver's self-signed serving certificate, which is its own CA."""
        return self.directory / "certs" / "apiserver.crt"

    @property
    def admin(self) -> KubeUser:
        return self.users["admin"]

    @property
    def kubeconfig(self) -> Path:
        """The admin's kubeconfig (context ``sealbox-test``)."""
        return self.kubeconfig_for("admin")

    @property
    def kubectl_path(self) -> Path:
        return self.assets / "kubectl"

    def kubeconfig_for(self, user: str) -> Path:
        """A kubeconfig for one of :attr:`users` (written once, mode 0600)."""
        path = self.directory / f"kubeconfig-{user}.yaml"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(yaml.safe_dump(self.kubeconfig_document(user)))
        return path

    def kubeconfig_document(self, user: str, *, context: str = "sealbox-test") -> dict[str, Any]:
        token = self.users[user].token
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "sealbox-test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": "sealbox-test", "user": user, "namespace": "default"},
                }
            ],
            "current-context": context,
        }

    def kubectl(
        self,
        *args: str,
        user: str = "admin",
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as ``user``; stdout and stderr captured, AssertionError when it fails."""
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        result = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig_for(user)}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}"
            )
        return result

    def get(self, path: str, *, user: str = "admin", timeout: float = 10.0) -> tuple[int, bytes]:
        """``GET path`` as ``user``: the status and body (an HTTP error is a status, not raised)."""
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.users[user].token}"}
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def ready(self) -> bool:
        return self.process.running and self.get("/readyz", timeout=2.0)[0] == 200

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines)


def _write_service_account_keys(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = directory / "sa.key", directory / "sa.pub"
    private.touch(mode=0o600)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def _users() -> dict[str, KubeUser]:
    """The admin and two plain users (``alice``; ``bob`` in group ``dev``) for RBAC tests."""
    users = (
        KubeUser("admin", secrets.token_hex(16), ("system:masters",)),
        KubeUser("alice", secrets.token_hex(16)),
        KubeUser("bob", secrets.token_hex(16), ("dev",)),
    )
    return {user.name: user for user in users}


def _token_file(directory: Path, users: dict[str, KubeUser]) -> Path:
    path = directory / "tokens.csv"
    path.touch(mode=0o600)
    lines = []
    for user in users.values():
        groups = f',"{",".join(user.groups)}"' if user.groups else ""
        lines.append(f"{user.token},{user.name},{user.name}{groups}")
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def running_apiserver(
    directory: Path,
    etcd: EtcdServer,
    *,
    flags: Sequence[str] = (),
    etcd_prefix: str | None = None,
    assets: Path | None = None,
) -> Iterator[KubeApiserver]:
    """One kube-apiserver on a free loopback port over ``etcd``; stopped on exit.

    ``flags`` are added as given (``--encryption-provider-config=...``); ``etcd_prefix`` defaults
    to a fresh ``/registry-<hex>`` so apiservers sharing one etcd do not see each other's objects
    (pass the same prefix to several apiservers to build one control plane).
    """
    assets = assets or require_k8s_assets()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "certs").mkdir(exist_ok=True)
    sa_key, sa_pub = _write_service_account_keys(directory)
    users = _users()
    port = free_port()
    prefix = etcd_prefix or f"/registry-{secrets.token_hex(4)}"
    argv = [
        str(assets / "kube-apiserver"),
        f"--etcd-servers={etcd.url}",
        f"--etcd-prefix={prefix}",
        f"--secure-port={port}",
        "--bind-address=127.0.0.1",
        f"--cert-dir={directory / 'certs'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-account-key-file={sa_pub}",
        f"--service-account-signing-key-file={sa_key}",
        f"--token-auth-file={_token_file(directory, users)}",
        "--authorization-mode=RBAC",
        "--service-cluster-ip-range=10.96.0.0/16",
        *flags,
    ]
    process = ManagedProcess(argv, log_path=directory / "kube-apiserver.log", cwd=directory)
    server = KubeApiserver(process, port, directory, prefix, assets, users)
    process.start()
    try:
        try:
            wait_until(server.ready, timeout=_READY_SECONDS, what=f"kube-apiserver on {server.url}")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; log:\n{server.log_tail()}") from None
        yield server
    finally:
        process.stop()


@pytest.fixture(scope="session")
def kube_apiserver(
    etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeApiserver]:
    """The session's shared apiserver: tests keep apart by namespace (``kube_namespace``)."""
    with running_apiserver(tmp_path_factory.mktemp("kube-apiserver"), etcd_server) as server:
        yield server


@pytest.fixture
def kube_namespace(kube_apiserver: KubeApiserver) -> str:
    """A fresh namespace with its ``default`` ServiceAccount. Namespaces are left behind: with no
    controller-manager a deleted one stays Terminating, and the session's etcd is thrown away."""
    name = f"t-{secrets.token_hex(4)}"
    kube_apiserver.kubectl("create", "namespace", name)
    kube_apiserver.kubectl("create", "serviceaccount", "default", "-n", name)
    return name
