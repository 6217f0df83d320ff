"""The ``vault`` backend against a real OpenBao dev server (config checks need no server)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from sealbox.errors import (
    AccessDenied,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    SealboxError,
)
from sealbox.kms import Wrapped
from sealbox.kms.backends import BlockingBackend, backend_type, call_deadline
from sealbox.kms.backends.vault import (
    ANNOTATION_VERSION,
    KIND,
    Config,
    KubernetesAuth,
    VaultBackend,
    build,
)
from sealbox.kms.plugin import parse_plugin_config
from tests.integration.backends import vault as vault_fixtures
from tests.integration.backends.vault import OpenBao, OpenBaoAdmin
from tests.integration.harness import BackendHarness
from tests.integration.processes import free_port

openbao = vault_fixtures.openbao
vault_harness = vault_fixtures.vault_harness

SEED = bytes(range(32))
TOKEN_SHAPE = re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9]{20,}")
KEY_ID = re.compile(r"vault:transit/(?P<name>[\w.-]+):v(?P<version>\d+):(?P<digest>[0-9a-f]{16})")

BuildBackend = Callable[..., VaultBackend]


@pytest.fixture(scope="module")
def openbao_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A second dev server with ``-dev-tls`` (its generated CA is ``ca_file``)."""
    with vault_fixtures.running_openbao(tmp_path_factory.mktemp("openbao-tls"), tls=True) as bao:
        yield bao


@pytest.fixture
def make_backend(tmp_path: Path) -> Iterator[BuildBackend]:
    """``make_backend(address=…, keyName=…, auth={…}, …)``: built against ``tmp_path``, closed."""
    built: list[VaultBackend] = []

    def make(**fields: Any) -> VaultBackend:
        backend = build(Config.model_validate({"type": "vault", **fields}), base_dir=tmp_path)
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


@pytest.fixture
def key(openbao: OpenBao) -> str:
    return openbao.admin.create_key()


def token_file(tmp_path: Path, token: str, name: str = "token") -> str:
    (tmp_path / name).write_text(token + "\n")
    return name  # relative: resolved against base_dir


def round_trip(backend: BlockingBackend) -> Wrapped:
    wrapped = backend.wrap(SEED)
    assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, wrapped.annotations) == SEED
    return wrapped


def wait_for_next_second(admin: OpenBaoAdmin, key: str) -> None:
    """Sleep until the wall clock is past the second in which ``key``'s version 1 was made."""
    created = int(admin.read(f"transit/keys/{key}")["keys"]["1"])
    while time.time() < created + 1.05:
        time.sleep(0.05)


# --- config (no server) -------------------------------------------------------------------------


def plugin_yaml(backend: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "sealbox.io/v1alpha1",
            "kind": "KMSPluginConfiguration",
            "socket": "/run/sealbox/kms.sock",
            "backends": {"primary": backend},
        }
    )


MINIMAL: dict[str, Any] = {
    "type": "vault",
    "address": "https://vault.example:8200/",
    "keyName": "kube",
    "auth": {"method": "token", "tokenFile": "token"},
}


def test_config_defaults() -> None:
    config = Config.model_validate(MINIMAL)
    assert config.address == "https://vault.example:8200"
    assert config.transit_mount == "transit"
    assert config.timeout_seconds == 10
    assert config.tls_skip_verify is False
    k8s = Config.model_validate({**MINIMAL, "auth": {"method": "kubernetes", "role": "kms"}})
    assert isinstance(k8s.auth, KubernetesAuth)
    assert str(k8s.auth.jwt_file) == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert k8s.auth.mount == "kubernetes"
    assert backend_type("vault") is KIND
    assert KIND.config is Config


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"keyname": "x"}, "backends.primary.keyname", "unknown field; did you mean keyName?"),
        ({"keyName": None}, "backends.primary.keyName", "required: add this field"),
        (
            {"auth": {"method": "token", "tokenFile": "t", "tokenEnv": "T"}},
            "backends.primary.auth.token",
            "set only one of tokenFile or tokenEnv, not both",
        ),
        (
            {"auth": {"method": "token"}},
            "backends.primary.auth.token",
            "set one of tokenFile or tokenEnv",
        ),
        (
            {"auth": {"method": "approle", "roleId": "r", "secretIdFile": "s", "secretIdEnv": "S"}},
            "backends.primary.auth.approle",
            "set only one of secretIdFile or secretIdEnv, not both",
        ),
        (
            {"auth": {"method": "approle", "secretIdFile": "s"}},
            "backends.primary.auth.approle.roleId",
            "required: add this field",
        ),
        ({"auth": {"method": "userpass"}}, "backends.primary.auth", "does not match"),
        (
            {"auth": {"method": "token", "tokenFile": "t", "extra": 1}},
            "backends.primary.auth.token.extra",
            "unknown field",
        ),
        ({"address": "vault:8200"}, "backends.primary.address", "http:// or https://"),
        ({"address": "https://u:p@vault:8200"}, "backends.primary.address", "credentials"),
        (
            {"address": "http://vault:8200", "caFile": "ca.pem"},
            "backends.primary",
            "caFile needs an https:// address",
        ),
        (
            {"clientCertFile": "c.pem"},
            "backends.primary",
            "set both clientCertFile and clientKeyFile",
        ),
        ({"keyName": "a/b"}, "backends.primary.keyName", "should match pattern"),
        ({"transitMount": "a b"}, "backends.primary.transitMount", "should match pattern"),
        ({"timeoutSeconds": 0}, "backends.primary.timeoutSeconds", "greater than 0"),
    ],
)
def test_config_errors_name_the_field(change: dict[str, Any], field: str, message: str) -> None:
    entry = {name: value for name, value in {**MINIMAL, **change}.items() if value is not None}
    with pytest.raises(ConfigError) as caught:
        parse_plugin_config(plugin_yaml(entry), "plugin.yaml", base_dir=Path("/etc/sealbox"))
    text = str(caught.value)
    assert any(issue.path == field for issue in caught.value.issues), text
    assert message in text


def test_inline_secrets_are_refused_and_not_echoed() -> None:
    secret = "s.InlineTokenMustNeverBeEchoed"
    entry = {**MINIMAL, "auth": {"method": "token", "token": secret}}
    with pytest.raises(ConfigError) as caught:
        parse_plugin_config(plugin_yaml(entry), "plugin.yaml", base_dir=Path("/etc/sealbox"))
    assert "backends.primary.auth.token.token: unknown field; did you mean" in str(caught.value)
    assert secret not in str(caught.value)
    with pytest.raises(ValidationError):
        Config.model_validate(
            {**MINIMAL, "auth": {"method": "approle", "roleId": "r", "secretId": "x"}}
        )


def test_missing_credential_or_tls_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build(Config.model_validate(MINIMAL), base_dir=tmp_path)  # no server needed: fails first
    assert [issue.path for issue in caught.value.issues] == ["auth.tokenFile"]
    assert str(tmp_path / "token") in str(caught.value)

    with pytest.raises(ConfigError) as caught:
        build(Config.model_validate({**MINIMAL, "caFile": "ca.pem"}), base_dir=tmp_path)
    assert [issue.path for issue in caught.value.issues] == ["caFile"]

    env = {**MINIMAL, "auth": {"method": "token", "tokenEnv": "SEALBOX_TEST_UNSET_TOKEN"}}
    with pytest.raises(ConfigError) as caught:
        build(Config.model_validate(env), base_dir=tmp_path)
    assert "auth.tokenEnv: environment variable SEALBOX_TEST_UNSET_TOKEN is empty or unset" in str(
        caught.value
    )


# --- against OpenBao ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("source", ["tokenFile", "tokenEnv"])
def test_round_trip_with_token_auth(
    openbao: OpenBao,
    key: str,
    make_backend: BuildBackend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    token = openbao.admin.token(openbao.admin.policy(key))
    if source == "tokenFile":
        auth = {"method": "token", "tokenFile": token_file(tmp_path, token)}
    else:
        monkeypatch.setenv("SEALBOX_TEST_VAULT_TOKEN", token)
        auth = {"method": "token", "tokenEnv": "SEALBOX_TEST_VAULT_TOKEN"}
    backend = make_backend(address=openbao.address, keyName=key, auth=auth)

    blocking: BlockingBackend = backend  # the plugin serves it on threads of its own
    assert (blocking.kind, backend.threads) == ("vault", 8)
    assert backend.label == f"vault transit/{key} at {openbao.address}"
    key_id = backend.current_key_id()
    match = KEY_ID.fullmatch(key_id)
    assert match is not None
    assert (match["name"], match["version"]) == (key, "1")
    assert len(key_id.encode()) <= 1024
    assert backend.current_key_id() == key_id  # stable while the key is unchanged

    wrapped = round_trip(backend)
    assert wrapped.key_id == key_id
    assert wrapped.ciphertext.startswith(b"vault:v1:")
    assert dict(wrapped.annotations) == {ANNOTATION_VERSION: b"1"}
    assert backend.owns(key_id)
    assert not backend.owns(key_id.replace(f"/{key}:", f"/{key}x:"))
    assert not backend.owns("local:abc")
    assert backend.logins == 1


@pytest.mark.integration
def test_round_trip_with_approle(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    role_id, secret_id = openbao.admin.approle(f"r-{key}", openbao.admin.policy(key))
    (tmp_path / "secret-id").write_text(secret_id)
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "approle", "roleId": role_id, "secretIdFile": "secret-id"},
    )
    round_trip(backend)
    assert backend.logins == 1
    assert repr(backend) == f"VaultBackend(vault transit/{key} at {openbao.address}, auth=approle)"


@pytest.mark.integration
def test_round_trip_with_rsa_key(
    openbao: OpenBao, make_backend: BuildBackend, tmp_path: Path
) -> None:
    """Asymmetric keys list versions as objects with an RFC 3339 creation_time."""
    key = openbao.admin.create_key(key_type="rsa-2048")
    token = openbao.admin.token(openbao.admin.policy(key))
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    assert round_trip(backend).key_id == backend.current_key_id()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class FakeTokenReview:
    """A stand-in for kube-apiserver's TokenReview API, and a service-account JWT it accepts."""

    namespace = "kube-system"
    account = "sealbox-kms"

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.uid = str(uuid.uuid4())
        self.reviews = 0
        claims = {
            "iss": "kubernetes/serviceaccount",
            "sub": f"system:serviceaccount:{self.namespace}:{self.account}",
            "kubernetes.io/serviceaccount/namespace": self.namespace,
            "kubernetes.io/serviceaccount/service-account.name": self.account,
            "kubernetes.io/serviceaccount/service-account.uid": self.uid,
        }
        signing_input = (
            _b64url(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
            + "."
            + _b64url(json.dumps(claims).encode())
        )
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        self.jwt = f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        review = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                review.reviews += 1
                user = {
                    "username": f"system:serviceaccount:{review.namespace}:{review.account}",
                    "uid": review.uid,
                }
                answer = json.dumps(
                    {
                        "apiVersion": "authentication.k8s.io/v1",
                        "kind": "TokenReview",
                        "status": {
                            "authenticated": body["spec"]["token"] == review.jwt,
                            "user": user,
                        },
                    }
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def public_key_pem(self) -> str:
        public = self.key.public_key()
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def ca_pem(self) -> str:
        """A throwaway CA certificate: OpenBao insists on one, the http URL never uses it."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake kube CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(hours=1))
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.mark.integration
def test_round_trip_with_kubernetes_auth(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    admin, mount = openbao.admin, f"k8s-{key}"
    review = FakeTokenReview()
    try:
        admin.write(f"sys/auth/{mount}", type="kubernetes")
        admin.write(
            f"auth/{mount}/config",
            kubernetes_host=review.url,
            kubernetes_ca_cert=review.ca_pem(),
            disable_local_ca_jwt=True,
            pem_keys=[review.public_key_pem()],
        )
        admin.write(
            f"auth/{mount}/role/kms",
            bound_service_account_names=[review.account],
            bound_service_account_namespaces=[review.namespace],
            token_policies=[admin.policy(key)],
        )
        (tmp_path / "sa-token").write_text(review.jwt)
        backend = make_backend(
            address=openbao.address,
            keyName=key,
            auth={"method": "kubernetes", "role": "kms", "jwtFile": "sa-token", "mount": mount},
        )
        round_trip(backend)
        assert (backend.logins, review.reviews) == (1, 1)
        assert review.jwt not in repr(backend)
    finally:
        review.close()


@pytest.mark.integration
def test_namespace(openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path) -> None:
    """The same mount and key name in another namespace is another key with another key_id."""
    auth = {"method": "token", "tokenFile": token_file(tmp_path, openbao.root_token)}
    outer = make_backend(address=openbao.address, keyName=key, auth=auth)
    with openbao.admin.namespace(f"ns-{key}") as inner_admin:
        inner_admin.create_key(key)
        inner = make_backend(address=openbao.address, keyName=key, namespace=f"ns-{key}", auth=auth)
        assert inner.label.endswith(f"(namespace ns-{key})")
        outer_wrapped, inner_wrapped = round_trip(outer), round_trip(inner)
        assert inner_wrapped.key_id != outer_wrapped.key_id
        assert inner_wrapped.key_id == inner.current_key_id()
        with pytest.raises(BackendRejected, match="rejected"):
            inner.unwrap(outer_wrapped.ciphertext, outer_wrapped.key_id, {})


@pytest.mark.integration
def test_rotation_changes_key_id_and_old_ciphertext_still_decrypts(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    token = openbao.admin.token(openbao.admin.policy(key))
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    before = round_trip(backend)
    openbao.admin.rotate(key)
    after_id = backend.current_key_id()
    assert after_id != before.key_id
    first, second = KEY_ID.fullmatch(before.key_id), KEY_ID.fullmatch(after_id)
    assert first is not None
    assert second is not None
    assert (first["version"], second["version"]) == ("1", "2")
    assert first["digest"] == second["digest"]  # same key, new version

    after = round_trip(backend)
    assert after.key_id == after_id
    assert after.ciphertext.startswith(b"vault:v2:")
    assert after.annotations[ANNOTATION_VERSION] == b"2"
    assert backend.unwrap(before.ciphertext, before.key_id, before.annotations) == SEED


@pytest.mark.integration
def test_deleted_and_recreated_key_never_reuses_a_key_id(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    admin = openbao.admin
    token = admin.token(admin.policy(key))
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    old = round_trip(backend)
    seen = {old.key_id}
    admin.rotate(key)
    seen.add(backend.current_key_id())
    # The identity digest uses version 1's creation time, which Vault reports in whole seconds:
    # a real key lives longer than that, this test's key must be made to.
    wait_for_next_second(admin, key)
    admin.delete_key(key)
    with pytest.raises(BackendRejected, match="not found"):
        backend.current_key_id()
    admin.create_key(key)

    recreated = backend.current_key_id()
    assert recreated not in seen
    first, again = KEY_ID.fullmatch(old.key_id), KEY_ID.fullmatch(recreated)
    assert first is not None
    assert again is not None
    assert again["version"] == first["version"] == "1"  # a version-only key_id would repeat
    admin.rotate(key)
    assert backend.current_key_id() not in seen
    with pytest.raises(BackendRejected, match="rejected") as caught:
        backend.unwrap(old.ciphertext, old.key_id, old.annotations)
    assert old.ciphertext.decode() not in str(caught.value)
    round_trip(backend)


@pytest.mark.integration
def test_short_lived_token_is_renewed(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    token = openbao.admin.token(openbao.admin.policy(key), ttl="3s", renewable=True)
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    started = time.monotonic()
    while time.monotonic() - started < 5.5:  # well past the 3 s the token was created with
        backend.current_key_id()
        time.sleep(0.2)
    round_trip(backend)
    assert backend.renewals > 0
    assert backend.logins == 1
    remaining = backend.token_ttl_remaining()
    assert remaining is not None
    assert 0 < remaining <= 3


@pytest.mark.integration
def test_approle_logs_in_again_when_renewal_hits_the_max_ttl(
    openbao: OpenBao, key: str, make_backend: BuildBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    role_id, secret_id = openbao.admin.approle(
        f"r-{key}", openbao.admin.policy(key), token_ttl="2s", token_max_ttl="2s"
    )
    monkeypatch.setenv("SEALBOX_TEST_SECRET_ID", secret_id)
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "approle", "roleId": role_id, "secretIdEnv": "SEALBOX_TEST_SECRET_ID"},
    )
    started = time.monotonic()
    while time.monotonic() - started < 4.5:
        backend.current_key_id()
        time.sleep(0.2)
    round_trip(backend)
    assert backend.logins >= 2


@pytest.mark.integration
def test_revoked_token_means_one_login_and_one_retry(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    admin = openbao.admin
    policy = admin.policy(key)
    role_id, secret_id = admin.approle(f"r-{key}", policy)
    (tmp_path / "secret-id").write_text(secret_id)
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "approle", "roleId": role_id, "secretIdFile": "secret-id"},
    )
    wrapped = round_trip(backend)
    (accessor,) = admin.accessors_with_policy(policy)
    admin.revoke_accessor(accessor)

    assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, wrapped.annotations) == SEED
    assert backend.logins == 2
    assert admin.accessors_with_policy(policy) != [accessor]


@pytest.mark.integration
def test_expired_operator_token_is_rejected_until_the_file_holds_a_new_one(
    openbao: OpenBao,
    key: str,
    make_backend: BuildBackend,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = openbao.admin
    policy = admin.policy(key)
    short = admin.token(policy, ttl="3s", renewable=False)
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, short)},
    )
    backend.current_key_id()
    time.sleep(2.2)  # inside the last third: re-reads the file, finds the same token, warns
    with caplog.at_level(logging.WARNING, logger="sealbox.kms.backends.vault"):
        backend.current_key_id()
    assert "cannot be renewed; put a new token in the file" in caplog.text
    time.sleep(1.3)
    with pytest.raises(AccessDenied, match="invalid or expired") as caught:
        backend.current_key_id()  # the plugin's own token: unavailable, not a bad request
    assert short not in str(caught.value)

    fresh = admin.token(policy)
    token_file(tmp_path, fresh)
    round_trip(backend)
    assert backend.logins == 2


@pytest.mark.integration
def test_permission_denied_is_access_denied_with_a_clear_message(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    token = openbao.admin.token(openbao.admin.policy(key, ("read", "encrypt")))
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    wrapped = backend.wrap(SEED)
    with pytest.raises(AccessDenied) as caught:  # the plugin's policy, not the request
        backend.unwrap(wrapped.ciphertext, wrapped.key_id, wrapped.annotations)
    message = str(caught.value)
    assert (
        f"vault transit/{key} at {openbao.address}: decrypt refused: permission denied" in message
    )
    assert f"needs 'update' on transit/decrypt/{key}" in message
    assert token not in message


@pytest.mark.integration
def test_denied_approle_logs_in_again_at_most_once(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    role_id, secret_id = openbao.admin.approle(
        f"r-{key}", openbao.admin.policy(key, ("read", "encrypt"))
    )
    (tmp_path / "secret-id").write_text(secret_id)
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "approle", "roleId": role_id, "secretIdFile": "secret-id"},
    )
    wrapped = backend.wrap(SEED)
    for _ in range(3):
        with pytest.raises(AccessDenied, match="permission denied"):
            backend.unwrap(wrapped.ciphertext, wrapped.key_id, wrapped.annotations)
    assert backend.logins == 2  # one re-login for the first 403, none for the next two


@pytest.mark.integration
def test_unknown_and_unusable_keys_are_rejected(
    openbao: OpenBao, make_backend: BuildBackend, tmp_path: Path
) -> None:
    admin = openbao.admin
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    derived = f"derived-{uuid.uuid4().hex[:8]}"
    admin.write(f"transit/keys/{derived}", derived=True)
    for name, message in ((missing, "not found under mount 'transit'"), (derived, "derived")):
        backend = make_backend(
            address=openbao.address,
            keyName=name,
            auth={"method": "token", "tokenFile": token_file(tmp_path, openbao.root_token)},
        )
        with pytest.raises(BackendRejected, match=message):
            backend.current_key_id()
        with pytest.raises(BackendRejected, match=message):
            backend.wrap(SEED)


@pytest.mark.integration
@pytest.mark.parametrize(
    "tamper",
    [
        "flip",
        "truncate",
        "not-transit",
        "version-mismatch",
        "foreign-key-id",
        "annotation",
    ],
)
def test_tampered_input_is_rejected(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path, tamper: str
) -> None:
    token = openbao.admin.token(openbao.admin.policy(key))
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    wrapped = backend.wrap(SEED)
    ciphertext, key_id, annotations = wrapped.ciphertext, wrapped.key_id, dict(wrapped.annotations)
    prefix, body = ciphertext[:9], bytearray(ciphertext[9:])
    if tamper == "flip":
        body[20] = ord("A") if body[20] != ord("A") else ord("B")
        ciphertext = prefix + bytes(body)
    elif tamper == "truncate":
        ciphertext = prefix + bytes(body[:8])
    elif tamper == "not-transit":
        ciphertext = b"\x00\x01garbage"
    elif tamper == "version-mismatch":
        ciphertext = b"vault:v2:" + bytes(body)
    elif tamper == "foreign-key-id":
        key_id = key_id.replace(f"/{key}:", "/other:")
    else:
        annotations[ANNOTATION_VERSION] = b"7"
    with pytest.raises(BackendRejected) as caught:
        backend.unwrap(ciphertext, key_id, annotations)
    assert bytes(body).decode() not in str(caught.value)
    assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, wrapped.annotations) == SEED


@pytest.mark.integration
def test_unreachable_server_is_unavailable_and_named(
    make_backend: BuildBackend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = f"http://127.0.0.1:{free_port()}"  # nobody listens
    with caplog.at_level(logging.WARNING, logger="sealbox.kms.backends.vault"):
        backend = make_backend(
            address=address,
            keyName="k",
            timeoutSeconds=1,
            auth={"method": "token", "tokenFile": token_file(tmp_path, "s.NotARealToken")},
        )
    assert "login failed, will retry on first use" in caplog.text
    started = time.monotonic()
    for call in (backend.current_key_id, lambda: backend.wrap(SEED)):
        with pytest.raises(BackendUnavailable) as caught:
            call()
        assert address in str(caught.value)
        assert "connection refused" in str(caught.value)
    assert time.monotonic() - started < 2


@pytest.mark.integration
def test_silent_server_times_out(make_backend: BuildBackend, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        backend = make_backend(
            address=address,
            keyName="k",
            timeoutSeconds=0.5,
            auth={"method": "token", "tokenFile": token_file(tmp_path, "s.NotARealToken")},
        )
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=r"no answer within 0\.5s") as caught:
            backend.current_key_id()
        assert time.monotonic() - started < 1.5
        assert address in str(caught.value)


@pytest.mark.integration
def test_the_call_deadline_cuts_a_request_short(make_backend: BuildBackend, tmp_path: Path) -> None:
    """timeoutSeconds is 10, but the KMS call being served must be answered within 0.6 s."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        address = f"http://127.0.0.1:{silent.getsockname()[1]}"
        backend = make_backend(
            address=address,
            keyName="k",
            timeoutSeconds=10,
            auth={"method": "token", "tokenFile": token_file(tmp_path, "s.NotARealToken")},
        )
        started = time.monotonic()
        with (
            call_deadline(started + 0.6),
            pytest.raises(BackendUnavailable, match="no answer before the caller's deadline"),
        ):
            backend.current_key_id()
        assert time.monotonic() - started < 0.6
        with (
            call_deadline(time.monotonic()),
            pytest.raises(BackendUnavailable, match="no time left before the caller's deadline"),
        ):
            backend.current_key_id()


class FakeVault:
    """An HTTP server answering every request with one canned status, headers and body."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                fake.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _errors(*messages: str) -> bytes:
    return json.dumps({"errors": list(messages)}).encode()


def openbao_like_token() -> str:
    return "s." + uuid.uuid4().hex[:24]


JSON = {"Content-Type": "application/json"}
LEAKY = "s." + "L" * 24  # token-shaped text a server might echo


@pytest.mark.integration
@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "message"),
    [
        (
            503,
            _errors("Vault is sealed"),
            JSON,
            BackendUnavailable,
            "lookup-self failed: Vault is sealed",
        ),
        (
            429,
            _errors("rate limit quota exceeded"),
            JSON,
            BackendUnavailable,
            "(HTTP 429): rate limit",
        ),
        (500, _errors("internal error"), JSON, BackendUnavailable, "(HTTP 500): internal error"),
        (504, b"gateway timeout", {}, BackendUnavailable, "unexpected HTTP status"),
        (200, b"<html>hello</html>", {"Content-Type": "text/html"}, BackendUnavailable, "not JSON"),
        (307, b"", {"Location": "/v1/elsewhere"}, BackendUnavailable, "redirected (HTTP 307)"),
        (
            400,
            _errors(f"bad {LEAKY} " + "x" * 500),
            JSON,
            BackendRejected,
            "lookup-self rejected (HTTP 400): bad <redacted> xxx",
        ),
        (403, _errors("permission denied"), JSON, AccessDenied, "lookup-self: permission denied"),
        (401, _errors("no client token"), JSON, AccessDenied, "lookup-self: permission denied"),
    ],
)
def test_server_answers_map_to_errors(
    make_backend: BuildBackend,
    tmp_path: Path,
    status: int,
    body: bytes,
    headers: dict[str, str],
    error: type[SealboxError],
    message: str,
) -> None:
    fake = FakeVault(status, body, headers)
    try:
        backend = make_backend(
            address=fake.address,
            keyName="k",
            auth={"method": "token", "tokenFile": token_file(tmp_path, openbao_like_token())},
        )
        with pytest.raises(error) as caught:
            backend.current_key_id()
        text = str(caught.value)
        assert message in text
        assert fake.address in text
        assert len(text) < 400  # server text is trimmed
        assert LEAKY not in text
        assert "/v1/elsewhere" not in fake.requests  # redirects are not followed
    finally:
        fake.close()


@pytest.mark.integration
def test_harness_outage_and_recovery(vault_harness: BackendHarness, tmp_path: Path) -> None:
    assert vault_harness.stop is not None
    assert vault_harness.start is not None
    backend = build(Config.model_validate(vault_harness.config), base_dir=tmp_path)
    try:
        before = round_trip(backend)
        vault_harness.stop()
        with pytest.raises(BackendUnavailable, match="cannot connect"):
            backend.unwrap(before.ciphertext, before.key_id, before.annotations)
        with pytest.raises(BackendUnavailable):
            backend.current_key_id()
        vault_harness.start()
        assert backend.current_key_id() == before.key_id
        vault_harness.rotate()
        after = round_trip(backend)
        assert after.key_id != before.key_id
        assert backend.unwrap(before.ciphertext, before.key_id, before.annotations) == SEED
    finally:
        backend.close()


@pytest.mark.integration
def test_concurrent_calls(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    token = openbao.admin.token(openbao.admin.policy(key))
    backend = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    with ThreadPoolExecutor(backend.threads) as pool:
        results = list(pool.map(lambda _: round_trip(backend).key_id, range(64)))
    assert set(results) == {backend.current_key_id()}


@pytest.mark.integration
def test_close_revokes_only_tokens_it_logged_in_for(
    openbao: OpenBao, key: str, make_backend: BuildBackend, tmp_path: Path
) -> None:
    admin = openbao.admin
    policy = admin.policy(key)
    role_id, secret_id = admin.approle(f"r-{key}", policy)
    (tmp_path / "secret-id").write_text(secret_id)
    approle = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "approle", "roleId": role_id, "secretIdFile": "secret-id"},
    )
    assert len(admin.accessors_with_policy(policy)) == 1
    approle.close()
    approle.close()  # idempotent
    assert admin.accessors_with_policy(policy) == []
    with pytest.raises(BackendUnavailable, match="closed"):
        approle.current_key_id()

    token = admin.token(policy)
    given = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "token", "tokenFile": token_file(tmp_path, token)},
    )
    given.close()
    assert len(admin.accessors_with_policy(policy)) == 1  # the operator's token lives on


@pytest.mark.integration
def test_no_secrets_in_reprs_logs_or_errors(
    openbao: OpenBao,
    key: str,
    make_backend: BuildBackend,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = openbao.admin
    token = admin.token(admin.policy(key, ("read", "encrypt")))
    role_id, secret_id = admin.approle(f"r-{key}", admin.policy(key, ("read",)))
    (tmp_path / "secret-id").write_text(secret_id)
    errors: list[SealboxError] = []
    configs = [
        Config.model_validate(
            {
                "type": "vault",
                "address": openbao.address,
                "keyName": key,
                "auth": {"method": "token", "tokenFile": token_file(tmp_path, token)},
            }
        ),
        Config.model_validate(
            {
                "type": "vault",
                "address": openbao.address,
                "keyName": key,
                "auth": {"method": "approle", "roleId": role_id, "secretIdFile": "secret-id"},
            }
        ),
    ]
    texts = [repr(config) for config in configs]
    for config in configs:
        backend = make_backend(**config.model_dump(by_alias=True, exclude_none=True))
        texts.append(repr(backend))
        texts.append(backend.current_key_id())
        try:
            wrapped = backend.wrap(SEED)
            backend.unwrap(wrapped.ciphertext, wrapped.key_id, wrapped.annotations)
        except SealboxError as err:
            errors.append(err)
        try:
            backend.unwrap(b"vault:v1:" + b"A" * 40, backend.current_key_id(), {})
        except SealboxError as err:
            errors.append(err)
    # a wrong secret-id at login
    (tmp_path / "wrong").write_text("not-the-secret-id")
    bad = make_backend(
        address=openbao.address,
        keyName=key,
        auth={"method": "approle", "roleId": role_id, "secretIdFile": "wrong"},
    )
    try:
        bad.current_key_id()
    except SealboxError as err:
        errors.append(err)
    assert len(errors) == 5  # decrypt denied, wrap denied, two bad ciphertexts, bad login
    texts += [str(err) for err in errors]
    texts.append(caplog.text)
    for text in texts:
        assert token not in text
        assert secret_id not in text
        assert SEED.hex() not in text
        assert base64.b64encode(SEED).decode() not in text
        assert "not-the-secret-id" not in text
        assert TOKEN_SHAPE.search(text) is None, text


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["caFile", "tlsSkipVerify", "system-roots"])
def test_tls(
    openbao_tls: OpenBao,
    make_backend: BuildBackend,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    assert openbao_tls.ca_file is not None
    admin = openbao_tls.admin
    key = admin.create_key()
    monkeypatch.setenv("SEALBOX_TEST_TLS_TOKEN", admin.token(admin.policy(key)))
    # The environment must not change where trust comes from.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(openbao_tls.ca_file))
    monkeypatch.setenv("VAULT_CACERT", str(openbao_tls.ca_file))
    choices: dict[str, dict[str, Any]] = {
        "caFile": {"caFile": str(openbao_tls.ca_file)},
        "tlsSkipVerify": {"tlsSkipVerify": True},
        "system-roots": {},
    }
    tls = choices[mode]
    backend = make_backend(
        address=openbao_tls.address,
        keyName=key,
        auth={"method": "token", "tokenEnv": "SEALBOX_TEST_TLS_TOKEN"},
        **tls,
    )
    if mode == "system-roots":
        with pytest.raises(BackendUnavailable, match="TLS certificate verification failed"):
            backend.current_key_id()
    else:
        round_trip(backend)  # with tlsSkipVerify: no InsecureRequestWarning (warnings are errors)
