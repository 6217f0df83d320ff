"""The ``spec.provider`` block of a SecretStore or ClusterSecretStore, one parser per provider.

``vault`` (OpenBao/Vault KV v1/v2 with a token, AppRole or Kubernetes auth), ``aws`` (Secrets
Manager) and ``kubernetes`` (Secrets of another namespace or cluster): the fields the controller
and the providers rely on, each problem named by its field path. :mod:`.stores` calls the parser
:data:`PROVIDER_PARSERS` maps a provider key to; the credentials are referenced
(:class:`SecretKeySelector`, :class:`ServiceAccountSelector`), never held.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sealbox.sync.fields import Fields

__all__ = [
    "PROVIDERS",
    "PROVIDER_PARSERS",
    "AwsProvider",
    "KubernetesProvider",
    "SecretKeySelector",
    "ServiceAccountSelector",
    "StoreProvider",
    "VaultAppRole",
    "VaultKubernetesAuth",
    "VaultProvider",
]

PROVIDERS = ("aws", "kubernetes", "vault")  # the ESO provider keys Sealbox implements

_SELECTOR_FIELDS = ("name", "key", "namespace")
_SA_FIELDS = ("name", "namespace", "audiences")


@dataclass(frozen=True, slots=True)
class SecretKeySelector:
    """A key of a Secret holding a credential. ``namespace`` None: the store's namespace (or, for
    a ClusterSecretStore, the referring ExternalSecret's)."""

    name: str
    key: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccountSelector:
    """A ServiceAccount whose token (TokenRequest, ``audiences``) authenticates."""

    name: str
    namespace: str | None = None
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VaultAppRole:
    path: str
    role_id: str
    secret_ref: SecretKeySelector


@dataclass(frozen=True, slots=True)
class VaultKubernetesAuth:
    """Kubernetes auth: one of ``service_account_ref`` (a fresh token) or ``secret_ref``."""

    mount_path: str
    role: str
    service_account_ref: ServiceAccountSelector | None = None
    secret_ref: SecretKeySelector | None = None


@dataclass(frozen=True, slots=True)
class VaultProvider:
    """``provider.vault``: ``path`` is the KV mount, ``version`` ``v1`` or ``v2``; exactly one of
    the three auth methods is set."""

    server: str
    path: str | None = None
    version: str = "v2"
    namespace: str | None = None
    ca_bundle: str | None = None
    token_secret_ref: SecretKeySelector | None = None
    app_role: VaultAppRole | None = None
    kubernetes: VaultKubernetesAuth | None = None


@dataclass(frozen=True, slots=True)
class AwsProvider:
    """``provider.aws`` with ``service: SecretsManager``. ``endpoint_url`` is Sealbox's own field
    (``endpointURL``; ESO reads ``AWS_SECRETSMANAGER_ENDPOINT`` instead); no ``auth`` means the
    controller's own credentials (environment, profile, IRSA)."""

    region: str
    service: str = "SecretsManager"
    access_key_id: SecretKeySelector | None = None
    secret_access_key: SecretKeySelector | None = None
    session_token: SecretKeySelector | None = None
    prefix: str = ""
    endpoint_url: str | None = None


@dataclass(frozen=True, slots=True)
class KubernetesProvider:
    """``provider.kubernetes``: Secrets of ``remote_namespace``, on ``server_url`` (None: the
    controller's own cluster), with exactly one of token, service account, client certificate, or
    a kubeconfig Secret (``auth_ref``)."""

    remote_namespace: str = "default"
    server_url: str | None = None
    ca_bundle: str | None = None
    token: SecretKeySelector | None = None
    service_account: ServiceAccountSelector | None = None
    client_cert: SecretKeySelector | None = None
    client_key: SecretKeySelector | None = None
    auth_ref: SecretKeySelector | None = None


StoreProvider = VaultProvider | AwsProvider | KubernetesProvider


def _selector(
    fields: Fields, parent: Mapping[str, Any], key: str, path: str
) -> SecretKeySelector | None:
    ref = fields.child(parent, key, path)
    if ref is None:
        return None
    where = f"{path}.{key}"
    fields.known(ref, where, _SELECTOR_FIELDS)
    return SecretKeySelector(
        name=fields.string(ref, "name", where, required=True) or "",
        key=fields.string(ref, "key", where, required=True) or "",
        namespace=fields.string(ref, "namespace", where) or None,
    )


def _service_account(
    fields: Fields, parent: Mapping[str, Any], key: str, path: str
) -> ServiceAccountSelector | None:
    ref = fields.child(parent, key, path)
    if ref is None:
        return None
    where = f"{path}.{key}"
    fields.known(ref, where, _SA_FIELDS)
    return ServiceAccountSelector(
        name=fields.string(ref, "name", where, required=True) or "",
        namespace=fields.string(ref, "namespace", where) or None,
        audiences=fields.strings(ref, "audiences", where),
    )


def _exactly_one(fields: Fields, path: str, present: Mapping[str, object]) -> None:
    count = sum(value is not None for value in present.values())
    if count != 1:
        choices = ", ".join(present)
        fields.problem(
            path, f"needs exactly one of {choices}" + (f" (found {count})" if count else "")
        )


def _vault(fields: Fields, spec: Mapping[str, Any], path: str) -> VaultProvider:
    fields.known(spec, path, ("server", "path", "version", "namespace", "caBundle", "auth"))
    version = fields.string(spec, "version", path) or "v2"
    if version not in ("v1", "v2"):
        fields.problem(f"{path}.version", "must be v1 or v2")
    auth_path = f"{path}.auth"
    auth = fields.child(spec, "auth", path)
    if auth is None and spec.get("auth") is None:
        fields.problem(auth_path, "required (tokenSecretRef, appRole or kubernetes)")
    checked = auth is not None
    auth = auth or {}
    fields.known(auth, auth_path, ("tokenSecretRef", "appRole", "kubernetes"))
    token = _selector(fields, auth, "tokenSecretRef", auth_path)
    app_role = None
    if (role := fields.child(auth, "appRole", auth_path)) is not None:
        where = f"{auth_path}.appRole"
        fields.known(role, where, ("path", "roleId", "secretRef"))
        secret_ref = _selector(fields, role, "secretRef", where)
        if secret_ref is None:
            fields.problem(f"{where}.secretRef", "required (the Secret key holding the secret_id)")
        app_role = VaultAppRole(
            path=fields.string(role, "path", where) or "approle",
            role_id=fields.string(role, "roleId", where, required=True) or "",
            secret_ref=secret_ref or SecretKeySelector("", ""),
        )
    kubernetes = None
    if (kube := fields.child(auth, "kubernetes", auth_path)) is not None:
        where = f"{auth_path}.kubernetes"
        fields.known(kube, where, ("mountPath", "role", "serviceAccountRef", "secretRef"))
        account = _service_account(fields, kube, "serviceAccountRef", where)
        jwt = _selector(fields, kube, "secretRef", where)
        _exactly_one(fields, where, {"serviceAccountRef": account, "secretRef": jwt})
        kubernetes = VaultKubernetesAuth(
            mount_path=fields.string(kube, "mountPath", where) or "kubernetes",
            role=fields.string(kube, "role", where, required=True) or "",
            service_account_ref=account,
            secret_ref=jwt,
        )
    if checked:
        _exactly_one(
            fields,
            auth_path,
            {"tokenSecretRef": token, "appRole": app_role, "kubernetes": kubernetes},
        )
    return VaultProvider(
        server=fields.string(spec, "server", path, required=True) or "",
        path=fields.string(spec, "path", path) or None,
        version=version,
        namespace=fields.string(spec, "namespace", path) or None,
        ca_bundle=fields.string(spec, "caBundle", path) or None,
        token_secret_ref=token,
        app_role=app_role,
        kubernetes=kubernetes,
    )


def _aws(fields: Fields, spec: Mapping[str, Any], path: str) -> AwsProvider:
    fields.known(spec, path, ("service", "region", "auth", "prefix", "endpointURL"))
    service = fields.string(spec, "service", path, required=True)
    if service is not None and service != "SecretsManager":
        fields.problem(f"{path}.service", "only SecretsManager is supported by Sealbox")
    auth = fields.child(spec, "auth", path) or {}
    fields.known(auth, f"{path}.auth", ("secretRef",))
    keys: dict[str, SecretKeySelector | None] = {}
    if (ref := fields.child(auth, "secretRef", f"{path}.auth")) is not None:
        where = f"{path}.auth.secretRef"
        names = ("accessKeyIDSecretRef", "secretAccessKeySecretRef", "sessionTokenSecretRef")
        fields.known(ref, where, names)
        keys = {name: _selector(fields, ref, name, where) for name in names}
        for name in names[:2]:
            if keys[name] is None:
                fields.problem(f"{where}.{name}", "required")
    endpoint = fields.string(spec, "endpointURL", path) or None
    if endpoint is not None and not re.match(r"https?://[^/\s]+", endpoint):
        fields.problem(f"{path}.endpointURL", "must be an http(s) URL such as https://host:443")
    return AwsProvider(
        region=fields.string(spec, "region", path, required=True) or "",
        service=service or "SecretsManager",
        access_key_id=keys.get("accessKeyIDSecretRef"),
        secret_access_key=keys.get("secretAccessKeySecretRef"),
        session_token=keys.get("sessionTokenSecretRef"),
        prefix=fields.string(spec, "prefix", path) or "",
        endpoint_url=endpoint,
    )


def _kubernetes(fields: Fields, spec: Mapping[str, Any], path: str) -> KubernetesProvider:
    fields.known(spec, path, ("remoteNamespace", "server", "auth", "authRef"))
    server = fields.child(spec, "server", path) or {}
    fields.known(server, f"{path}.server", ("url", "caBundle"))
    auth_path = f"{path}.auth"
    auth = fields.child(spec, "auth", path)
    auth_ref = _selector(fields, spec, "authRef", path)
    token = account = cert = key = None
    if auth is not None:
        fields.known(auth, auth_path, ("token", "serviceAccount", "cert"))
        if (token_block := fields.child(auth, "token", auth_path)) is not None:
            fields.known(token_block, f"{auth_path}.token", ("bearerToken",))
            token = _selector(fields, token_block, "bearerToken", f"{auth_path}.token")
            if token is None:
                fields.problem(f"{auth_path}.token.bearerToken", "required")
        account = _service_account(fields, auth, "serviceAccount", auth_path)
        if (cert_block := fields.child(auth, "cert", auth_path)) is not None:
            where = f"{auth_path}.cert"
            fields.known(cert_block, where, ("clientCert", "clientKey"))
            cert = _selector(fields, cert_block, "clientCert", where)
            key = _selector(fields, cert_block, "clientKey", where)
            for name, value in (("clientCert", cert), ("clientKey", key)):
                if value is None:
                    fields.problem(f"{where}.{name}", "required")
        methods = {"token": auth.get("token"), "serviceAccount": account, "cert": auth.get("cert")}
        _exactly_one(fields, auth_path, methods)
    _exactly_one(fields, path, {"auth": auth, "authRef": auth_ref})
    return KubernetesProvider(
        remote_namespace=fields.string(spec, "remoteNamespace", path) or "default",
        server_url=fields.string(server, "url", f"{path}.server") or None,
        ca_bundle=fields.string(server, "caBundle", f"{path}.server") or None,
        token=token,
        service_account=account,
        client_cert=cert,
        client_key=key,
        auth_ref=auth_ref,
    )


PROVIDER_PARSERS: dict[str, Callable[[Fields, Mapping[str, Any], str], StoreProvider]] = {
    "vault": _vault,
    "aws": _aws,
    "kubernetes": _kubernetes,
}
"""A provider key to the parser of its block (fields, the block, its path)."""
