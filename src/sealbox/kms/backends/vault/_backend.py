"""The ``vault`` backend itself: :class:`VaultBackend` (blocking, through hvac) and :func:`build`.

The package docstring documents the config, the token lifecycle, the key_id and the policy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from urllib3.exceptions import InsecureRequestWarning

from sealbox.errors import (
    AccessDenied,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    ConfigIssue,
    CredentialError,
    RequestRefused,
)
from sealbox.kms import Wrapped
from sealbox.kms.backends.kind import threaded_kind
from sealbox.kms.backends.vault._auth import (
    LoginMethod,
    TokenLogin,
    TokenManager,
    approle_login,
    kubernetes_login,
)
from sealbox.kms.backends.vault._config import (
    DIGEST_CHARS,
    AppRoleAuth,
    Config,
    KubernetesAuth,
    TokenAuth,
)
from sealbox.kms.backends.vault._http import Transport
from sealbox.kms.backends.vault._secrets import SecretSource

__all__ = ["ANNOTATION_VERSION", "KIND", "THREADS", "VaultBackend", "build"]

log = logging.getLogger("sealbox.kms.backends.vault")

ANNOTATION_VERSION = "version.vault.sealbox.io"
THREADS = 8
_CIPHERTEXT = re.compile(rb"vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}")
_KEY_ID_TAIL = re.compile(rf"v([1-9][0-9]{{0,9}}):[0-9a-f]{{{DIGEST_CHARS}}}")


@dataclass(frozen=True, slots=True)
class _KeyState:
    latest: int
    digest: str


class VaultBackend:
    """A Vault/OpenBao transit key; see the module docstring for key_id and token handling."""

    kind = "vault"
    threads = THREADS  # safe to call from this many threads at once

    def __init__(self, config: Config, *, base_dir: Path) -> None:
        self._config = config
        self._mount = config.transit_mount
        self._name = config.key_name
        self._prefix = f"vault:{self._mount}/{self._name}:"
        namespace = f" (namespace {config.namespace})" if config.namespace else ""
        self.label = f"vault {self._mount}/{self._name} at {config.address}{namespace}"
        self._closed = False
        source = f"vault backend {self._mount}/{self._name}"

        def resolve(path: Path) -> Path:
            return path if path.is_absolute() else base_dir / path

        issues = [
            ConfigIssue(name, f"no such file: {resolve(path)}")
            for name, path in (
                ("caFile", config.ca_file),
                ("clientCertFile", config.client_cert_file),
                ("clientKeyFile", config.client_key_file),
            )
            if path is not None and not resolve(path).is_file()
        ]
        if issues:
            raise ConfigError(source, issues)
        host = urlsplit(config.address).hostname or ""
        if config.tls_skip_verify:
            log.warning(
                "%s: tlsSkipVerify is on: the server's certificate is NOT checked", self.label
            )
            warnings.filterwarnings(
                "ignore",
                message=rf"Unverified HTTPS request is being made to host '{re.escape(host)}'",
                category=InsecureRequestWarning,
            )
        elif config.address.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("%s: plain http: tokens and key material travel unencrypted", self.label)
        self._transport = Transport(
            config, label=self.label, resolve=resolve, pool_size=THREADS + 2
        )
        self._tokens = TokenManager(self._transport, _login_method(config.auth, resolve))
        try:
            self._tokens.token()
        except CredentialError as err:
            self._transport.close()
            raise ConfigError(source, [ConfigIssue(err.setting, err.detail)]) from None
        except (BackendRejected, BackendUnavailable) as err:
            log.warning("%s: login failed, will retry on first use: %s", self.label, err)

    def __repr__(self) -> str:
        return f"VaultBackend({self.label}, auth={self._tokens.method.name})"

    @property
    def renewals(self) -> int:
        """Successful token renewals (``renew-self``) so far."""
        return self._tokens.renewals

    @property
    def logins(self) -> int:
        """Successful logins so far (the first one included)."""
        return self._tokens.logins

    def token_ttl_remaining(self) -> float | None:
        """Seconds until the current token expires; ``None`` if unknown or it never expires."""
        return self._tokens.ttl_remaining()

    def owns(self, key_id: str) -> bool:
        return key_id.startswith(self._prefix)

    def current_key_id(self) -> str:
        state = self._read_key()
        return self._key_id(state.latest, state.digest)

    def wrap(self, plaintext: bytes) -> Wrapped:
        state = self._read_key()
        body = self._call(
            "POST",
            f"{self._mount}/encrypt/{self._name}",
            what="encrypt",
            payload={
                "plaintext": base64.b64encode(plaintext).decode("ascii"),
                "key_version": state.latest,
            },
        )
        data = body.get("data")
        ciphertext = data.get("ciphertext") if isinstance(data, dict) else None
        match = (
            _CIPHERTEXT.fullmatch(ciphertext.encode("ascii", "replace"))
            if isinstance(ciphertext, str)
            else None
        )
        if ciphertext is None or match is None:
            raise BackendUnavailable(f"{self.label}: encrypt: answer has no transit ciphertext")
        version = int(match.group(1))
        return Wrapped(
            ciphertext=match.group(0),
            key_id=self._key_id(version, state.digest),
            annotations={ANNOTATION_VERSION: str(version).encode("ascii")},
        )

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
        shown = key_id if len(key_id) <= 120 else key_id[:119] + "…"
        tail = _KEY_ID_TAIL.fullmatch(key_id[len(self._prefix) :]) if self.owns(key_id) else None
        if tail is None:
            raise BackendRejected(f"{self.label}: key_id {shown!r} was not made by this key")
        match = _CIPHERTEXT.fullmatch(ciphertext)
        if match is None:
            raise BackendRejected(
                f"{self.label}: decrypt: ciphertext for key_id {shown!r} is not a transit "
                "ciphertext (vault:v<N>:<base64>)"
            )
        version = match.group(1).decode("ascii")
        if version != tail.group(1):
            raise BackendRejected(
                f"{self.label}: decrypt: ciphertext of key version v{version} does not match "
                f"key_id {shown!r}"
            )
        annotated = annotations.get(ANNOTATION_VERSION)
        if annotated is not None and annotated != version.encode("ascii"):
            raise BackendRejected(
                f"{self.label}: decrypt: annotation {ANNOTATION_VERSION} does not match "
                f"key_id {shown!r}"
            )
        try:
            body = self._call(
                "POST",
                f"{self._mount}/decrypt/{self._name}",
                what="decrypt",
                payload={"ciphertext": ciphertext.decode("ascii")},
            )
        except RequestRefused as err:
            if err.status != 400:
                raise
            why = (
                f"key version v{version} is below the key's min_decryption_version"
                if "disallowed by policy" in err.server_message
                else "tampered, or made by a deleted, recreated or trimmed key"
            )
            raise BackendRejected(
                f"{self.label}: decrypt of key_id {shown!r} rejected (HTTP 400): {why}"
            ) from None
        data = body.get("data")
        plaintext = data.get("plaintext") if isinstance(data, dict) else None
        if not isinstance(plaintext, str):
            raise BackendUnavailable(f"{self.label}: decrypt: answer has no plaintext")
        try:
            return base64.b64decode(plaintext, validate=True)
        except (binascii.Error, ValueError):
            raise BackendUnavailable(
                f"{self.label}: decrypt: answer's plaintext is not base64"
            ) from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._tokens.close()
        self._transport.close()

    def _key_id(self, version: int, digest: str) -> str:
        return f"{self._prefix}v{version}:{digest}"

    def _read_key(self) -> _KeyState:
        try:
            body = self._call("GET", f"{self._mount}/keys/{self._name}", what="read key")
        except RequestRefused as err:
            if err.status != 404:
                raise
            raise BackendRejected(
                f"{self.label}: transit key {self._name!r} not found under mount "
                f"{self._mount!r} (HTTP 404)"
            ) from None
        data = body.get("data")
        if not isinstance(data, dict):
            raise BackendUnavailable(f"{self.label}: read key: answer has no data")
        if data.get("soft_deleted"):
            raise BackendRejected(f"{self.label}: transit key is soft-deleted")
        if data.get("derived"):
            raise BackendRejected(
                f"{self.label}: transit key is a derived (context) key, which the KMS API "
                "cannot use; create one without derived=true"
            )
        if not data.get("supports_encryption", True) or not data.get("supports_decryption", True):
            raise BackendRejected(
                f"{self.label}: transit key type {data.get('type')!s:.40} cannot encrypt "
                "and decrypt"
            )
        versions = data.get("keys")
        latest = data.get("latest_version")
        try:
            assert isinstance(versions, dict)
            assert isinstance(latest, int)
            assert not isinstance(latest, bool)
            oldest = min(versions, key=int)
            created = versions[oldest]
            if isinstance(created, dict):  # asymmetric keys: {"creation_time": "…", …}
                created = created["creation_time"]
            assert isinstance(created, int | str)
            assert latest >= int(oldest) >= 1
        except (AssertionError, KeyError, ValueError, TypeError):
            raise BackendUnavailable(
                f"{self.label}: read key: answer lacks latest_version or key versions"
            ) from None
        identity = "\0".join(
            (self._config.namespace or "", self._mount, self._name, str(created))
        ).encode("utf-8")
        digest = hashlib.sha256(b"sealbox vault key identity\0" + identity).hexdigest()
        return _KeyState(latest=latest, digest=digest[:DIGEST_CHARS])

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One request with the current token; after a 403, one re-login and one retry."""
        if self._closed:
            raise BackendUnavailable(f"{self.label}: backend is closed")
        token, generation = self._tokens.token()
        try:
            try:
                return self._transport.call(method, path, what=what, token=token, payload=payload)
            except AccessDenied:
                if not self._tokens.refresh_after_denied(generation):
                    raise
            token, _ = self._tokens.token()
            return self._transport.call(method, path, what=what, token=token, payload=payload)
        except AccessDenied as err:
            capability = "read" if method == "GET" else "update"
            raise AccessDenied(
                f"{err}: the {self._tokens.method.describe()} needs {capability!r} on {path}, "
                "or it expired or was revoked"
            ) from None


def _login_method(
    auth: TokenAuth | AppRoleAuth | KubernetesAuth, resolve: Callable[[Path], Path]
) -> LoginMethod:
    if isinstance(auth, TokenAuth):
        return TokenLogin(
            SecretSource(
                "auth.tokenFile" if auth.token_file is not None else "auth.tokenEnv",
                path=resolve(auth.token_file) if auth.token_file is not None else None,
                env=auth.token_env,
            )
        )
    if isinstance(auth, AppRoleAuth):
        secret = SecretSource(
            "auth.secretIdFile" if auth.secret_id_file is not None else "auth.secretIdEnv",
            path=resolve(auth.secret_id_file) if auth.secret_id_file is not None else None,
            env=auth.secret_id_env,
        )
        return approle_login(auth.role_id, secret, auth.mount)
    jwt = SecretSource("auth.jwtFile", path=resolve(auth.jwt_file))
    return kubernetes_login(auth.role, jwt, auth.mount)


def build(config: Config, *, base_dir: Path) -> VaultBackend:
    """A backend for ``config``; logs in now (a failure to reach Vault is retried later).

    Raises:
        ConfigError: a TLS file or a credential file/variable named in the config is missing.
    """
    return VaultBackend(config, base_dir=base_dir)


KIND = threaded_kind("vault", Config, build, threads=THREADS)
"""The ``vault`` entry of the backend registry: served on threads of its own; the key rotates in
Vault (``transit/keys/<name>/rotate``), and the plugin follows its key_id."""
