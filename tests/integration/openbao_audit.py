"""An OpenBao dev server whose requests are counted in its file audit log, for the sync providers.

``openbao_audited`` (session scope) runs ``bao server -dev`` like ``openbao`` does (free loopback
port, random root token through the environment, ``-dev-no-store-token``) plus a ``-config``
file holding ``unsafe_allow_api_audit_creation = true``: since OpenBao 2.3.2 that is the only way
to enable an audit device through the API. A ``file`` audit device then records every request as
one JSON line (values and tokens HMAC'd), so a test counts what a provider really sent
(:meth:`AuditedOpenBao.requests`). Mounted: KV v2 at ``secret/`` (the dev default), KV v1 at
``kv1/``, AppRole at ``auth/approle`` and Kubernetes auth at ``auth/kubernetes``.

``openbao_kubernetes_auth`` (session scope) configures ``auth/kubernetes`` against the session's
real apiserver: OpenBao reviews every login JWT with the TokenReview API, authenticated as a
``bao-reviewer`` ServiceAccount bound to ``system:auth-delegator`` (the documented long-lived
reviewer setup), trusting the apiserver's CA.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.integration.backends.vault import BAO, OpenBaoAdmin
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import ManagedProcess, free_port, wait_until

__all__ = [
    "AuditedOpenBao",
    "AuditedRequest",
    "openbao_audited",
    "openbao_kubernetes_auth",
    "running_audited_openbao",
]


@dataclass(frozen=True)
class AuditedRequest:
    """One request line of the audit log: what was asked, and by which (hashed) token."""

    operation: str
    path: str
    client_token: str = field(repr=False)


@dataclass
class AuditedOpenBao:
    """A running OpenBao whose file audit device logs to :attr:`audit_log`."""

    process: ManagedProcess
    port: int
    root_token: str = field(repr=False)
    admin: OpenBaoAdmin
    audit_log: Path

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def mark(self) -> int:
        """Where the audit log ends now: pass it to :meth:`requests` to count from here."""
        return self.audit_log.stat().st_size

    def requests(self, since: int = 0) -> list[AuditedRequest]:
        """The requests logged after offset ``since`` (see :meth:`mark`)."""
        with self.audit_log.open("rb") as log:
            log.seek(since)
            lines = log.read().decode("utf-8").splitlines()
        found = []
        for line in lines:
            entry = json.loads(line)
            if entry.get("type") != "request":
                continue
            request = entry["request"]
            found.append(
                AuditedRequest(
                    operation=request.get("operation", ""),
                    path=request.get("path", ""),
                    client_token=request.get("client_token", ""),
                )
            )
        return found

    def audit_text(self) -> str:
        return self.audit_log.read_text(encoding="utf-8")


def _healthy(address: str) -> bool:
    with requests.Session() as session:
        session.trust_env = False
        try:
            return session.get(f"{address}/v1/sys/health", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False


@contextlib.contextmanager
def running_audited_openbao(directory: Path) -> Iterator[AuditedOpenBao]:
    """``bao server -dev`` with a file audit device; stopped by its pid on exit."""
    port = free_port()
    token = secrets.token_hex(16)
    config = directory / "openbao.hcl"
    config.write_text("unsafe_allow_api_audit_creation = true\n")
    process = ManagedProcess(
        [
            str(BAO),
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-config={config}",
        ],
        log_path=directory / "openbao.log",
        env={"HOME": str(directory), "BAO_DEV_ROOT_TOKEN_ID": token},
        cwd=directory,
    )
    process.start()
    admin: OpenBaoAdmin | None = None
    address = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(
                lambda: process.running and _healthy(address),
                timeout=60,
                what="OpenBao dev server (audited)",
            )
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; log:\n{process.log_tail()}") from None
        admin = OpenBaoAdmin(address, token)
        audit_log = directory / "audit.log"
        admin.write("sys/audit/file", type="file", options={"file_path": str(audit_log)})
        admin.write("sys/mounts/kv1", type="kv", options={"version": "1"})
        admin.write("sys/auth/approle", type="approle")
        admin.write("sys/auth/kubernetes", type="kubernetes")
        yield AuditedOpenBao(
            process=process, port=port, root_token=token, admin=admin, audit_log=audit_log
        )
    finally:
        if admin is not None:
            admin.close()
        process.stop()


@pytest.fixture(scope="session")
def openbao_audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedOpenBao]:
    with running_audited_openbao(tmp_path_factory.mktemp("openbao-audited")) as server:
        yield server


@pytest.fixture(scope="session")
def openbao_kubernetes_auth(
    openbao_audited: AuditedOpenBao, kube_apiserver: KubeApiserver
) -> AuditedOpenBao:
    """``auth/kubernetes`` of ``openbao_audited`` reviewing JWTs with the session's apiserver."""
    kube_apiserver.kubectl("create", "namespace", "bao-reviewer")
    kube_apiserver.kubectl("create", "serviceaccount", "reviewer", "-n", "bao-reviewer")
    kube_apiserver.kubectl(
        "create",
        "clusterrolebinding",
        "bao-reviewer-auth-delegator",
        "--clusterrole=system:auth-delegator",
        "--serviceaccount=bao-reviewer:reviewer",
    )
    reviewer_jwt = kube_apiserver.kubectl(
        "create", "token", "reviewer", "-n", "bao-reviewer", "--duration=24h"
    ).stdout.strip()
    openbao_audited.admin.write(
        "auth/kubernetes/config",
        kubernetes_host=kube_apiserver.url,
        kubernetes_ca_cert=kube_apiserver.ca_file.read_text(),
        token_reviewer_jwt=reviewer_jwt,
        disable_local_ca_jwt=True,
    )
    return openbao_audited
