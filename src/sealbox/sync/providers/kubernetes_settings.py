"""The settings of a ``kubernetes`` store (``spec.provider.kubernetes``), checked before any call.

The remote namespace, the server (URL and base64 PEM ``caBundle``) and exactly one way to
authenticate: a bearer token Secret, a ServiceAccount (a TokenRequest), a client certificate, or a
kubeconfig Secret (``authRef``) instead of server and auth. Credentials are referenced, never
held. See :mod:`.kubernetes` for the whole store.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from sealbox.errors import ConfigError, ConfigIssue
from sealbox.sync.providers.base import SecretKeyRef

__all__ = ["KubernetesSettings"]

_FIELD = "spec.provider.kubernetes"
_DEFAULT_SERVER = "https://kubernetes.default.svc"
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _key_ref(spec: object, path: str, issues: list[ConfigIssue]) -> SecretKeyRef | None:
    if not isinstance(spec, Mapping):
        issues.append(ConfigIssue(path, "required: {name, key}"))
        return None
    name, key, namespace = spec.get("name"), spec.get("key"), spec.get("namespace")
    ok = True
    for field_name, value in (("name", name), ("key", key)):
        if not isinstance(value, str) or not value:
            issues.append(ConfigIssue(f"{path}.{field_name}", "required"))
            ok = False
    if namespace is not None and not isinstance(namespace, str):
        issues.append(ConfigIssue(f"{path}.namespace", "must be a string"))
        ok = False
    if not ok:
        return None
    return SecretKeyRef(name=str(name), key=str(key), namespace=namespace or None)


class KubernetesSettings:
    """The store's ``spec.provider.kubernetes``, checked; issues name the field path."""

    def __init__(self, spec: Mapping[str, Any], label: str) -> None:
        issues: list[ConfigIssue] = []
        namespace = spec.get("remoteNamespace", "default")
        if not isinstance(namespace, str) or not _NAME.fullmatch(namespace):
            issues.append(ConfigIssue(f"{_FIELD}.remoteNamespace", "must be a namespace name"))
        self.namespace = str(namespace)
        self.kubeconfig: SecretKeyRef | None = None
        self.token: SecretKeyRef | None = None
        self.service_account: tuple[str, str | None, tuple[str, ...]] | None = None
        self.cert: tuple[SecretKeyRef, SecretKeyRef] | None = None
        self.ca_ref: SecretKeyRef | None = None
        self.ca_bundle: str | None = None
        server = spec.get("server") or {}
        auth = spec.get("auth") or {}
        if not isinstance(server, Mapping) or not isinstance(auth, Mapping):
            issues.append(ConfigIssue(_FIELD, "server and auth must be objects"))
            raise ConfigError(label, issues)
        url = server.get("url", _DEFAULT_SERVER)
        if not isinstance(url, str) or not url.startswith("https://"):
            issues.append(ConfigIssue(f"{_FIELD}.server.url", "expected an https URL"))
        self.url = str(url)
        self._ca(server, issues)
        methods = [name for name in ("token", "serviceAccount", "cert") if auth.get(name)]
        if spec.get("authRef"):
            methods.append("authRef")
            self.kubeconfig = _key_ref(spec["authRef"], f"{_FIELD}.authRef", issues)
        if len(methods) != 1:
            issues.append(
                ConfigIssue(
                    f"{_FIELD}.auth",
                    "exactly one of auth.token, auth.serviceAccount, auth.cert or authRef "
                    f"(got {', '.join(methods) or 'none'})",
                )
            )
        if auth.get("token"):
            token = auth["token"]
            bearer = token.get("bearerToken") if isinstance(token, Mapping) else None
            self.token = _key_ref(bearer, f"{_FIELD}.auth.token.bearerToken", issues)
        if auth.get("serviceAccount"):
            self._service_account(auth["serviceAccount"], issues)
        if auth.get("cert"):
            cert = auth["cert"]
            cert = cert if isinstance(cert, Mapping) else {}
            where = f"{_FIELD}.auth.cert"
            client_cert = _key_ref(cert.get("clientCert"), f"{where}.clientCert", issues)
            client_key = _key_ref(cert.get("clientKey"), f"{where}.clientKey", issues)
            if client_cert is not None and client_key is not None:
                self.cert = (client_cert, client_key)
        if issues:
            raise ConfigError(label, issues)

    def _ca(self, server: Mapping[str, Any], issues: list[ConfigIssue]) -> None:
        bundle, provider = server.get("caBundle"), server.get("caProvider")
        if bundle is not None:
            try:
                base64.b64decode(str(bundle), validate=True)
                self.ca_bundle = str(bundle)
            except ValueError:
                issues.append(ConfigIssue(f"{_FIELD}.server.caBundle", "must be base64 PEM"))
        if provider is not None:
            where = f"{_FIELD}.server.caProvider"
            if not isinstance(provider, Mapping) or provider.get("type") != "Secret":
                issues.append(ConfigIssue(f"{where}.type", "only Secret is supported"))
            else:
                self.ca_ref = _key_ref(provider, where, issues)

    def _service_account(self, spec: object, issues: list[ConfigIssue]) -> None:
        where = f"{_FIELD}.auth.serviceAccount"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            issues.append(ConfigIssue(f"{where}.name", "required"))
            return
        audiences = spec.get("audiences") or []
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            issues.append(ConfigIssue(f"{where}.audiences", "must be a list of strings"))
            audiences = []
        namespace = spec.get("namespace")
        self.service_account = (
            str(spec["name"]),
            str(namespace) if namespace else None,
            tuple(audiences),
        )
