"""A real etcd (Debian's ``/usr/bin/etcd``) for tests, plain and with TLS client certificates.

``etcd_server`` (session scope) runs one etcd member on free loopback ports (client, peer and
metrics) with its data dir and log in a temp dir; it is ready once ``etcdctl endpoint health``
says so, and is stopped by its pid at the end. ``etcd_tls_server`` does the same with
``https://`` client URLs and ``--client-cert-auth``, using a throwaway CA, server and client
certificates made with ``cryptography`` (plus a client certificate from a second, untrusted CA).

Tests share one server and stay apart by key prefix: the function-scoped ``etcd`` and
``etcd_tls`` fixtures give each test an :class:`EtcdPrefix` with its own unique prefix (deleted
afterwards), a ready :class:`EtcdConfig` and an ``etcdctl`` helper (``ETCDCTL_API=3``, TLS flags
filled in). :func:`running_etcd` starts more servers when a test needs its own.

Register with ``pytest_plugins`` (``tests.integration.etcd_server``) or import the fixtures.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sealbox.storage.etcd import EtcdConfig
from tests.integration.processes import ManagedProcess, free_port, port_open, wait_until

__all__ = [
    "ETCD",
    "ETCDCTL",
    "EtcdPrefix",
    "EtcdServer",
    "EtcdTLSFiles",
    "etcd",
    "etcd_server",
    "etcd_tls",
    "etcd_tls_server",
    "make_tls_files",
    "running_etcd",
]

ETCD = Path("/usr/bin/etcd")
ETCDCTL = Path("/usr/bin/etcdctl")
_READY_SECONDS = 30.0


@dataclass(frozen=True)
class EtcdTLSFiles:
    """PEM files: a CA, etcd's server pair, a trusted client pair and an untrusted one."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    common_name: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    server: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_tls_files(directory: Path) -> EtcdTLSFiles:
    """A fresh CA with a server pair for 127.0.0.1/localhost and a client pair, plus a rogue CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca("sealbox test etcd CA")
    files = EtcdTLSFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
        rogue_cert=directory / "rogue.pem",
        rogue_key=directory / "rogue-key.pem",
    )
    _write_cert(files.ca, ca[0])
    for cert_path, key_path, pair in (
        (files.server_cert, files.server_key, _leaf("etcd", ca, server=True)),
        (files.client_cert, files.client_key, _leaf("sealbox", ca, server=False)),
        (files.rogue_cert, files.rogue_key, _leaf("sealbox", _ca("rogue CA"), server=False)),
    ):
        _write_cert(cert_path, pair[0])
        _write_key(key_path, pair[1])
    return files


@dataclass
class EtcdServer:
    """A running single-member etcd on loopback; ``tls`` is set when clients need certs."""

    process: ManagedProcess
    client_port: int
    data_dir: Path
    tls: EtcdTLSFiles | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    def config(self, *, timeout_seconds: float = 5.0, client_cert: bool = True) -> EtcdConfig:
        """A client config for this server (with the trusted client pair unless told not to)."""
        if self.tls is None:
            return EtcdConfig(endpoints=(self.url,), timeout_seconds=timeout_seconds)
        return EtcdConfig(
            endpoints=(self.url,),
            cacert=self.tls.ca,
            cert=self.tls.client_cert if client_cert else None,
            key=self.tls.client_key if client_cert else None,
            timeout_seconds=timeout_seconds,
        )

    def etcdctl(
        self, *args: str, stdin: bytes | None = None, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``etcdctl`` (API v3) against this server; stdout and stderr are captured."""
        argv = [
            str(ETCDCTL),
            f"--endpoints={self.url}",
            "--dial-timeout=2s",
            "--command-timeout=10s",
        ]
        if self.tls is not None:
            argv += [
                f"--cacert={self.tls.ca}",
                f"--cert={self.tls.client_cert}",
                f"--key={self.tls.client_key}",
            ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
        env["ETCDCTL_API"] = "3"
        result = subprocess.run(
            [*argv, *args],
            input=stdin,
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"etcdctl {' '.join(args)} exited {result.returncode}: "
                f"{result.stderr.decode(errors='replace')[-2000:]}"
            )
        return result


def _healthy(server: EtcdServer) -> bool:
    if not port_open(server.client_port):
        return False
    return server.etcdctl("endpoint", "health", check=False, timeout=10).returncode == 0


@contextlib.contextmanager
def running_etcd(directory: Path, *, tls: bool = False) -> Iterator[EtcdServer]:
    """One etcd member on free loopback ports with its data in ``directory``; stopped on exit."""
    client, peer, metrics = free_port(), free_port(), free_port()
    files = make_tls_files(directory / "certs") if tls else None
    scheme = "https" if tls else "http"
    client_url = f"{scheme}://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    data_dir = directory / "data"
    argv = [
        str(ETCD),
        "--name=sealbox-test",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=sealbox-test={peer_url}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token=sealbox-{secrets.token_hex(4)}",
        f"--listen-metrics-urls=http://127.0.0.1:{metrics}",
        "--logger=zap",
        "--log-outputs=stderr",
    ]
    if files is not None:
        argv += [
            f"--cert-file={files.server_cert}",
            f"--key-file={files.server_key}",
            f"--trusted-ca-file={files.ca}",
            "--client-cert-auth",
        ]
    process = ManagedProcess(argv, log_path=directory / "etcd.log", cwd=directory)
    # etcd reads ETCD_* variables as flags: run it without any from our environment.
    process.env = {k: v for k, v in process.env.items() if not k.startswith("ETCD_")}
    server = EtcdServer(process=process, client_port=client, data_dir=data_dir, tls=files)
    process.start()
    try:
        try:
            wait_until(
                lambda: process.running and _healthy(server),
                timeout=_READY_SECONDS,
                what=f"etcd on {client_url}",
            )
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; log:\n{process.log_tail()}") from None
        yield server
    finally:
        process.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    with running_etcd(tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture(scope="session")
def etcd_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    with running_etcd(tmp_path_factory.mktemp("etcd-tls"), tls=True) as server:
        yield server


@dataclass
class EtcdPrefix:
    """One test's slice of a shared etcd: every key it writes starts with ``prefix``."""

    server: EtcdServer
    prefix: bytes

    @property
    def url(self) -> str:
        return self.server.url

    def key(self, name: str | bytes) -> bytes:
        """``prefix + name``."""
        return self.prefix + (name.encode() if isinstance(name, str) else name)

    def config(self, *, timeout_seconds: float = 5.0, client_cert: bool = True) -> EtcdConfig:
        return self.server.config(timeout_seconds=timeout_seconds, client_cert=client_cert)

    def etcdctl(
        self, *args: str, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return self.server.etcdctl(*args, stdin=stdin, check=check)


@contextlib.contextmanager
def _prefixed(server: EtcdServer) -> Iterator[EtcdPrefix]:
    prefix = f"/sealbox-test/{secrets.token_hex(6)}/".encode()
    try:
        yield EtcdPrefix(server=server, prefix=prefix)
    finally:
        if server.process.running:
            server.etcdctl("del", "--prefix", "--", prefix.decode(), check=False)


@pytest.fixture
def etcd(etcd_server: EtcdServer) -> Iterator[EtcdPrefix]:
    """The shared plain-HTTP etcd, with a unique key prefix for this test."""
    with _prefixed(etcd_server) as prefixed:
        yield prefixed


@pytest.fixture
def etcd_tls(etcd_tls_server: EtcdServer) -> Iterator[EtcdPrefix]:
    """The shared TLS etcd (client certificates required), with a unique key prefix."""
    with _prefixed(etcd_tls_server) as prefixed:
        yield prefixed
