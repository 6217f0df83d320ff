"""What a store's provider may read from the cluster: referenced Secret keys and ServiceAccount
tokens (the :class:`~sealbox.sync.providers.base.StoreContext` callbacks).

Namespaces follow ESO: a SecretStore reads only its own namespace (a reference naming another
one is refused, so a store cannot borrow another team's credentials); a ClusterSecretStore reads
the namespace a reference names, else the referring ExternalSecret's. Tokens come from the
TokenRequest API (``serviceaccounts/<name>/token``, 10 minutes). Every failure is a
:class:`~sealbox.errors.ProviderError` naming the store, the Secret and the key, never a value:
:class:`~sealbox.errors.ProviderAuthError` for what the store's author must fix (a missing
Secret or key, a refused namespace, RBAC), so the provider backs off;
:class:`~sealbox.errors.ProviderUnavailable` for an apiserver that may answer later.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret, ServiceAccountToken

from sealbox.errors import (
    KubeError,
    KubeForbidden,
    KubeNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
)
from sealbox.kube import kube_errors
from sealbox.sync import StoreKind
from sealbox.sync.providers import SecretKeyRef, StoreContext

__all__ = ["TOKEN_SECONDS", "all_refs_namespaced", "object_refs", "store_context"]

TOKEN_SECONDS = 600
"""Lifetime asked for a ServiceAccount token (the provider asks again at each login)."""


def object_refs(provider_spec: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Any]]:
    """Every reference to a Secret key or ServiceAccount in a provider block, as (field path,
    its ``namespace`` value or None): a mapping with a ``name`` and a ``key`` (ESO's
    SecretKeySelector) or under a ``serviceAccount``/``serviceAccountRef`` field."""
    for field, value in provider_spec.items():
        where = f"{path}.{field}" if path else str(field)
        if not isinstance(value, Mapping):
            continue
        is_account = str(field) in ("serviceAccount", "serviceAccountRef")
        if "name" in value and ("key" in value or is_account):
            yield where, value.get("namespace") or None
        else:
            yield from object_refs(value, where)


def all_refs_namespaced(provider_spec: Mapping[str, Any]) -> bool:
    """Whether a ClusterSecretStore names every reference's namespace (then it can be validated
    without an ExternalSecret's namespace)."""
    return all(namespace for _, namespace in object_refs(provider_spec))


def store_context(
    client: AsyncClient,
    label: str,
    kind: StoreKind,
    namespace: str | None,
    es_namespace: str,
) -> StoreContext:
    """The callbacks for one opened store: ``namespace`` is a SecretStore's own, ``es_namespace``
    the referring ExternalSecret's (the default of a ClusterSecretStore's references; empty when
    validating a ClusterSecretStore on its own)."""

    def where(what: str, name: str, asked: str | None) -> str:
        if kind is StoreKind.SECRET_STORE:
            if asked and asked != namespace:
                raise ProviderAuthError(
                    label,
                    f'{what} "{asked}/{name}": a SecretStore may only reference its own namespace '
                    f'"{namespace}" (remove the reference\'s namespace field)',
                )
            return namespace or ""
        chosen = asked or es_namespace
        if not chosen:
            raise ProviderAuthError(
                label, f'{what} "{name}": the reference needs a namespace field'
            )
        return chosen

    def failure(exc: KubeError, what: str) -> ProviderError:
        if isinstance(exc, KubeNotFound):
            return ProviderAuthError(label, f"{what} does not exist")
        if isinstance(exc, KubeForbidden):
            return ProviderAuthError(label, f"{what} cannot be read by the controller: {exc}")
        return ProviderUnavailable(label, f"{what} cannot be read now: {exc}")

    async def secret_value(ref: SecretKeyRef) -> bytes:
        secret_namespace = where("Secret", ref.name, ref.namespace)
        what = f'Secret "{secret_namespace}/{ref.name}"'
        try:
            with kube_errors():
                secret = await client.get(Secret, ref.name, namespace=secret_namespace)
        except KubeError as exc:
            raise failure(exc, what) from None
        encoded = (secret.data or {}).get(ref.key)
        if encoded is None:
            raise ProviderAuthError(label, f'{what} has no key "{ref.key}"')
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ProviderAuthError(label, f'{what} key "{ref.key}" is not base64') from None

    async def service_account_token(
        name: str, account_namespace: str | None, audiences: tuple[str, ...]
    ) -> str:
        chosen = where("ServiceAccount", name, account_namespace)
        what = f'ServiceAccount "{chosen}/{name}" token'
        request = ServiceAccountToken(
            metadata=ObjectMeta(),  # lightkube reads it; the path names the account
            spec=TokenRequestSpec(audiences=list(audiences), expirationSeconds=TOKEN_SECONDS),
        )
        try:
            with kube_errors():
                answer = await client.create(request, name, namespace=chosen)
        except KubeError as exc:
            raise failure(exc, what) from None
        token = answer.status.token if answer.status is not None else ""
        if not token:
            raise ProviderUnavailable(label, f"{what}: the apiserver returned no token")
        return str(token)

    return StoreContext(label, secret_value, service_account_token)
