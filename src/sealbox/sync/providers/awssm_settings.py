"""The settings of an ``aws`` store (``spec.provider.aws``), checked before any AWS call.

Region, key prefix, an optional ``endpointURL`` (https, or plain http only to a loopback address,
no credentials or query in it) and the Secret keys holding static credentials
(``auth.secretRef``); ``role``, ``auth.jwt`` and their kin are refused by name, since the
controller's own AWS profile or IRSA assumes roles. See :mod:`.awssm` for the whole store.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sealbox.errors import ConfigError, ConfigIssue
from sealbox.sync.providers.base import SecretKeyRef

__all__ = ["AwsSettings"]

_FIELD = "spec.provider.aws"
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _key_ref(spec: object, path: str, issues: list[ConfigIssue]) -> SecretKeyRef | None:
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        issues.append(ConfigIssue(path, "must be an object {name, key, namespace}"))
        return None
    name, key, namespace = spec.get("name"), spec.get("key"), spec.get("namespace")
    for field_name, value in (("name", name), ("key", key)):
        if not isinstance(value, str) or not value:
            issues.append(ConfigIssue(f"{path}.{field_name}", "required"))
    if namespace is not None and not isinstance(namespace, str):
        issues.append(ConfigIssue(f"{path}.namespace", "must be a string"))
    if not isinstance(name, str) or not isinstance(key, str) or not name or not key:
        return None
    return SecretKeyRef(name=name, key=key, namespace=namespace if namespace else None)


class AwsSettings:
    """The store's ``spec.provider.aws``, checked; issues name the field path."""

    def __init__(self, spec: Mapping[str, Any], label: str) -> None:
        issues: list[ConfigIssue] = []
        service = spec.get("service", "SecretsManager")
        if service != "SecretsManager":
            issues.append(ConfigIssue(f"{_FIELD}.service", "only SecretsManager is supported"))
        region = spec.get("region")
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            issues.append(ConfigIssue(f"{_FIELD}.region", "required: an AWS region (eu-west-1)"))
        self.region = region if isinstance(region, str) else ""
        prefix = spec.get("prefix", "")
        if not isinstance(prefix, str):
            issues.append(ConfigIssue(f"{_FIELD}.prefix", "must be a string"))
        self.prefix = prefix if isinstance(prefix, str) else ""
        self.endpoint_url = self._endpoint(spec.get("endpointURL"), issues)
        for unsupported in ("role", "additionalRoles", "externalID", "sessionTags"):
            if spec.get(unsupported):
                issues.append(
                    ConfigIssue(
                        f"{_FIELD}.{unsupported}",
                        "not supported: assume the role in the controller's AWS profile or IRSA",
                    )
                )
        self.access_key: SecretKeyRef | None = None
        self.secret_key: SecretKeyRef | None = None
        self.session_token: SecretKeyRef | None = None
        auth = spec.get("auth") or {}
        if not isinstance(auth, Mapping):
            issues.append(ConfigIssue(f"{_FIELD}.auth", "must be an object"))
            auth = {}
        if auth.get("jwt"):
            issues.append(ConfigIssue(f"{_FIELD}.auth.jwt", "not supported: use IRSA or secretRef"))
        secret_ref = auth.get("secretRef")
        if secret_ref is not None:
            where = f"{_FIELD}.auth.secretRef"
            if not isinstance(secret_ref, Mapping):
                issues.append(ConfigIssue(where, "must be an object"))
                secret_ref = {}
            self.access_key = _key_ref(
                secret_ref.get("accessKeyIDSecretRef"), f"{where}.accessKeyIDSecretRef", issues
            )
            self.secret_key = _key_ref(
                secret_ref.get("secretAccessKeySecretRef"),
                f"{where}.secretAccessKeySecretRef",
                issues,
            )
            self.session_token = _key_ref(
                secret_ref.get("sessionTokenSecretRef"), f"{where}.sessionTokenSecretRef", issues
            )
            if self.access_key is None and "accessKeyIDSecretRef" not in secret_ref:
                issues.append(ConfigIssue(f"{where}.accessKeyIDSecretRef", "required"))
            if self.secret_key is None and "secretAccessKeySecretRef" not in secret_ref:
                issues.append(ConfigIssue(f"{where}.secretAccessKeySecretRef", "required"))
        if issues:
            raise ConfigError(label, issues)

    @staticmethod
    def _endpoint(value: object, issues: list[ConfigIssue]) -> str | None:
        if value is None:
            return None
        where = f"{_FIELD}.endpointURL"
        if not isinstance(value, str):
            issues.append(ConfigIssue(where, "must be a URL"))
            return None
        try:
            parts = urlsplit(value)
            host = parts.hostname
            _ = parts.port
        except ValueError:
            host = None
        if not host or parts.scheme not in ("http", "https"):
            issues.append(ConfigIssue(where, "expected an https URL"))
            return None
        if parts.username is not None or parts.password is not None or parts.query:
            issues.append(ConfigIssue(where, "must hold no credentials or query"))
            return None
        if parts.scheme == "http" and not _is_loopback(host):
            issues.append(ConfigIssue(where, "plain http only to a loopback address; use https"))
            return None
        return value.rstrip("/")
