"""SecretStore and ClusterSecretStore specs (``external-secrets.io/v1``, Sealbox's subset), checked.

A store names exactly one provider: ``vault`` (OpenBao/Vault KV v1/v2), ``aws`` (Secrets Manager)
or ``kubernetes`` (Secrets of another namespace or cluster). :func:`parse_store` checks the
fields the controller and the providers rely on, listing every problem by field path
(:class:`~sealbox.sync.fields.SyncSpecError`); the provider module still receives its raw block
(:attr:`StoreSpec.provider_spec`) and reads it itself. :func:`store_allows` is the
ClusterSecretStore ``conditions`` rule: which namespaces may use the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sealbox.sync.fields import Fields, SyncSpecError
from sealbox.sync.model import StoreKind

__all__ = [
    "PROVIDERS",
    "AwsProvider",
    "KubernetesProvider",
    "LabelSelector",
    "NamespaceCondition",
    "SecretKeySelector",
    "ServiceAccountSelector",
    "StoreProvider",
    "StoreSpec",
    "VaultAppRole",
    "VaultKubernetesAuth",
    "VaultProvider",
    "parse_store",
    "store_allows",
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


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector: ``match_labels`` and ``(key, operator, values)`` expressions
    (In, NotIn, Exists, DoesNotExist), all of which must hold; empty matches everything."""

    match_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        for key, operator, values in self.match_expressions:
            present = key in labels
            if operator == "In" and not (present and labels[key] in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True


@dataclass(frozen=True, slots=True)
class NamespaceCondition:
    """One ClusterSecretStore ``conditions[]`` entry; a namespace it admits by any of the three
    ways may use the store."""

    namespace_selector: LabelSelector | None = None
    namespaces: tuple[str, ...] = ()
    namespace_regexes: tuple[str, ...] = ()


class _Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """A checked store. ``provider_name`` is the ESO key (``vault``, ``aws``, ``kubernetes``),
    ``provider`` its parsed form and ``provider_spec`` the raw block the provider module reads.
    ``refresh_interval`` None: the controller's default revalidation period."""

    kind: StoreKind
    provider_name: str
    provider: StoreProvider
    provider_spec: Mapping[str, Any]
    refresh_interval: timedelta | None = None
    conditions: tuple[NamespaceCondition, ...] = ()


def store_allows(
    conditions: Sequence[NamespaceCondition], namespace: str, labels: Mapping[str, str]
) -> bool:
    """May an ExternalSecret in ``namespace`` (whose Namespace carries ``labels``) use a
    ClusterSecretStore with these ``conditions``? ESO's rule: no conditions admit every
    namespace; otherwise any condition admitting it by label selector, by name, or by a regular
    expression found anywhere in the name (Go's ``regexp.MatchString``: not anchored)."""
    if not conditions:
        return True
    for condition in conditions:
        selector = condition.namespace_selector
        if selector is not None and selector.matches(labels):
            return True
        if namespace in condition.namespaces:
            return True
        if any(re.search(pattern, namespace) for pattern in condition.namespace_regexes):
            return True
    return False


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


_PARSERS: dict[str, Callable[[Fields, Mapping[str, Any], str], StoreProvider]] = {
    "vault": _vault,
    "aws": _aws,
    "kubernetes": _kubernetes,
}


def _label_selector(fields: Fields, parent: Mapping[str, Any], path: str) -> LabelSelector | None:
    selector = fields.child(parent, "namespaceSelector", path)
    if selector is None:
        return None
    where = f"{path}.namespaceSelector"
    fields.known(selector, where, ("matchLabels", "matchExpressions"))
    expressions = []
    for item_path, item in fields.items(selector, "matchExpressions", where):
        fields.known(item, item_path, ("key", "operator", "values"))
        key = fields.string(item, "key", item_path, required=True) or ""
        before = len(fields.issues)
        operator = fields.choice(item, "operator", item_path, _Operator, _Operator.EXISTS)
        if item.get("operator") is None:
            fields.problem(f"{item_path}.operator", "required (In, NotIn, Exists or DoesNotExist)")
        values = fields.strings(item, "values", item_path)
        if len(fields.issues) > before:
            continue
        needs_values = operator in (_Operator.IN, _Operator.NOT_IN)
        if needs_values and not values:
            fields.problem(f"{item_path}.values", f"required (non-empty) with operator {operator}")
        if not needs_values and values:
            fields.problem(f"{item_path}.values", f"must be empty with operator {operator}")
        expressions.append((key, operator.value, values))
    return LabelSelector(
        match_labels=fields.string_map(selector, "matchLabels", where),
        match_expressions=tuple(expressions),
    )


def _conditions(fields: Fields, spec: Mapping[str, Any]) -> tuple[NamespaceCondition, ...]:
    result = []
    for path, item in fields.items(spec, "conditions", "spec"):
        fields.known(item, path, ("namespaceSelector", "namespaces", "namespaceRegexes"))
        regexes = fields.strings(item, "namespaceRegexes", path)
        for index, pattern in enumerate(regexes):
            try:
                re.compile(pattern)
            except re.error as error:
                where = f"{path}.namespaceRegexes[{index}]"
                fields.problem(where, f"not a valid regular expression ({error})")
        result.append(
            NamespaceCondition(
                namespace_selector=_label_selector(fields, item, path),
                namespaces=fields.strings(item, "namespaces", path),
                namespace_regexes=regexes,
            )
        )
    return tuple(result)


def parse_store(obj: Mapping[str, Any]) -> StoreSpec:
    """The checked spec of a SecretStore or ClusterSecretStore object (by its ``kind``;
    SecretStore when absent). ``conditions`` are refused on a namespaced SecretStore, as in ESO.

    Raises:
        SyncSpecError: naming the store and every problem found.
    """
    fields = Fields()
    root = fields.mapping(obj, "")
    kind = fields.choice(root, "kind", "", StoreKind, StoreKind.SECRET_STORE)
    metadata = fields.child(root, "metadata", "") or {}
    name = metadata.get("name") if isinstance(metadata.get("name"), str) else ""
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else ""
    subject = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    spec = fields.child(root, "spec", "")
    if spec is None:
        if not fields.issues:
            fields.problem("spec", "required")
        raise SyncSpecError(subject.rstrip(), fields.issues)
    allowed = ["provider", "refreshInterval", "controller"]
    if kind is StoreKind.CLUSTER_SECRET_STORE:
        allowed.append("conditions")
    fields.known(spec, "spec", allowed)
    fields.only(spec, "controller", "spec", ("",))
    provider_block = fields.child(spec, "provider", "spec")
    provider_name, provider, provider_spec = "", None, MappingProxyType[str, Any]({})
    if provider_block is None:
        if spec.get("provider") is None:
            fields.problem("spec.provider", f"required (one of {', '.join(PROVIDERS)})")
    elif len(provider_block) != 1:
        fields.problem("spec.provider", f"needs exactly one of {', '.join(PROVIDERS)}")
    else:
        ((provider_name, raw),) = provider_block.items()
        where = f"spec.provider.{provider_name}"
        parser = _PARSERS.get(provider_name)
        if parser is None:
            choices = ", ".join(PROVIDERS)
            fields.problem(where, f"unknown provider (Sealbox syncs from {choices})")
        elif raw is None:
            fields.problem(where, "must be a mapping, not null")
        elif (block := fields.child(provider_block, provider_name, "spec.provider")) is not None:
            provider, provider_spec = parser(fields, block, where), MappingProxyType(dict(block))
    interval = fields.duration(spec, "refreshInterval", "spec", seconds_allowed=True)
    conditions = _conditions(fields, spec)
    fields.raise_if_any(subject)
    if provider is None:  # every path without a provider added an issue above
        raise SyncSpecError(subject, fields.issues)
    return StoreSpec(
        kind=kind,
        provider_name=provider_name,
        provider=provider,
        provider_spec=provider_spec,
        refresh_interval=interval or None,
        conditions=conditions,
    )
