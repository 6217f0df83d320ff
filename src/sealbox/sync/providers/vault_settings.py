"""The settings of a ``vault`` store (``spec.provider.vault``), checked before any request.

Server (http(s)), KV mount and version, an optional namespace and CA bundle, and exactly one auth
method (``tokenSecretRef``, ``appRole``, ``kubernetes``); ESO's field names, others refused so
nothing is silently ignored. :mod:`.vault` documents the block and reads with the result.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sealbox.errors import ConfigError, ConfigIssue

__all__ = ["VaultStore", "parse_store"]

_PREFIX = "spec.provider.vault"
_STORE_FIELDS = {"server", "path", "version", "namespace", "caBundle", "auth"}
_AUTH_FIELDS = {"tokenSecretRef", "appRole", "kubernetes"}


@dataclass(frozen=True, slots=True)
class VaultStore:
    """A validated ``spec.provider.vault``: where the server is and how to log in."""

    server: str
    path: str | None
    kv_version: int
    namespace: str | None
    ca_pem: str | None = field(repr=False)
    auth: str  # "token", "appRole" or "kubernetes"
    auth_spec: Mapping[str, Any] = field(repr=False)


class _Issues:
    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(f"{_PREFIX}.{path}", message))

    def string(self, spec: Mapping[str, Any], name: str, where: str, *, required: bool) -> str:
        value = spec.get(name)
        if value is None or value == "":
            if required:
                self.add(f"{where}{name}", "required")
            return ""
        if not isinstance(value, str):
            self.add(f"{where}{name}", "must be a string")
            return ""
        return value

    def secret_ref(self, spec: Mapping[str, Any], name: str, where: str) -> None:
        ref = spec.get(name)
        if not isinstance(ref, Mapping):
            self.add(f"{where}{name}", "required: {name: <Secret>, key: <key>}")
            return
        self.string(ref, "name", f"{where}{name}.", required=True)
        self.string(ref, "key", f"{where}{name}.", required=True)


def parse_store(spec: Mapping[str, Any], label: str) -> VaultStore:
    """Validate ``spec.provider.vault``.

    Raises:
        ConfigError: every broken rule, each naming its field path.
    """
    issues = _Issues()
    for unknown in sorted(set(spec) - _STORE_FIELDS):
        issues.add(unknown, f"not supported (supported: {', '.join(sorted(_STORE_FIELDS))})")
    server = issues.string(spec, "server", "", required=True)
    if server:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            issues.add("server", "must be an http:// or https:// URL")
        elif parts.username or parts.password:
            issues.add("server", "must not carry credentials")
    path = issues.string(spec, "path", "", required=False).strip("/") or None
    version = spec.get("version", "v2")
    if version not in ("v1", "v2"):
        issues.add("version", "must be v1 or v2")
    namespace = issues.string(spec, "namespace", "", required=False) or None
    ca_pem = None
    bundle = issues.string(spec, "caBundle", "", required=False)
    if bundle:
        try:
            ca_pem = base64.b64decode(bundle, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            issues.add("caBundle", "must be base64 of PEM certificates")
        else:
            if "-----BEGIN CERTIFICATE-----" not in ca_pem:
                issues.add("caBundle", "must be base64 of PEM certificates")
    auth = spec.get("auth")
    method = ""
    auth_spec: Mapping[str, Any] = {}
    if not isinstance(auth, Mapping) or len(auth) != 1 or next(iter(auth)) not in _AUTH_FIELDS:
        issues.add("auth", f"exactly one of {', '.join(sorted(_AUTH_FIELDS))} is required")
    else:
        method = next(iter(auth))
        auth_spec = auth[method] if isinstance(auth[method], Mapping) else {}
        if method == "tokenSecretRef":
            issues.secret_ref(auth, "tokenSecretRef", "auth.")
        elif method == "appRole":
            issues.string(auth_spec, "roleId", "auth.appRole.", required=True)
            issues.string(auth_spec, "path", "auth.appRole.", required=False)
            issues.secret_ref(auth_spec, "secretRef", "auth.appRole.")
        else:
            issues.string(auth_spec, "role", "auth.kubernetes.", required=True)
            issues.string(auth_spec, "mountPath", "auth.kubernetes.", required=False)
            has_sa = isinstance(auth_spec.get("serviceAccountRef"), Mapping)
            if has_sa == ("secretRef" in auth_spec):
                issues.add("auth.kubernetes", "exactly one of serviceAccountRef, secretRef")
            elif has_sa:
                issues.string(
                    auth_spec["serviceAccountRef"],
                    "name",
                    "auth.kubernetes.serviceAccountRef.",
                    required=True,
                )
            else:
                issues.secret_ref(auth_spec, "secretRef", "auth.kubernetes.")
    if issues.issues:
        raise ConfigError(label, issues.issues)
    return VaultStore(
        server=server,
        path=path,
        kv_version=1 if version == "v1" else 2,
        namespace=namespace,
        ca_pem=ca_pem,
        auth={"tokenSecretRef": "token"}.get(method, method),
        auth_spec=auth_spec,
    )
