"""Reading and writing the target Secrets: the only apiserver writes a sync makes.

The managed Secrets (label ``reconcile.external-secrets.io/managed=true``) are followed by an
informer, so checking one costs no request; a target outside that cache (a ``Merge`` target, or
one not created yet) is read with one GET. A :class:`~sealbox.sync.TargetPlan` is carried out
with create, update (with the ``resourceVersion`` read: a concurrent edit is a conflict, retried
by the reconciler with a fresh read) or delete, each counted in
``sealbox_sync_secret_writes_total{verb}``; ``none`` sends nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, cast

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from sealbox.errors import KubeNotFound
from sealbox.kube import kube_errors
from sealbox.sync import (
    ANNOTATION_DATA_HASH,
    LABEL_MANAGED,
    LABEL_MANAGED_VALUE,
    TargetPlan,
    data_hash,
)

__all__ = ["SecretWrites", "Targets", "Verb", "secret_manifest", "target_valid"]

Verb = Literal["create", "update", "delete"]


class SecretWrites(Protocol):
    def secret_write(self, verb: str) -> None: ...


def secret_manifest(obj: Any) -> dict[str, Any]:
    """A cached or fetched Secret as plain JSON-shaped data (``data`` base64 text)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    return cast(dict[str, Any], obj.to_dict())


def _decoded(data: Mapping[str, Any] | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value or "", validate=True)
        except (ValueError, TypeError):
            out[key] = b""
    return out


def target_valid(secret: Mapping[str, Any] | None, *, managed: bool, required: bool) -> bool:
    """ESO's ``isSecretValid``: a Secret that must exist (``required``) does; one the controller
    marks (``managed``) still carries the managed label and a data-hash that matches its data.
    False means "sync now" (repair a deletion, revert an edit)."""
    if secret is None:
        return not required
    if not managed:
        return True
    metadata = secret.get("metadata") or {}
    if (metadata.get("labels") or {}).get(LABEL_MANAGED) != LABEL_MANAGED_VALUE:
        return False
    expected = (metadata.get("annotations") or {}).get(ANNOTATION_DATA_HASH)
    return expected == data_hash(_decoded(secret.get("data")))


class Targets:
    """The target Secrets: a cache lookup, a GET when it misses, and the writes of a plan."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        cached: Callable[[str], Any | None],
        metrics: SecretWrites,
    ) -> None:
        """``cached(namespace/name)`` is the managed-Secret informer's lookup."""
        self.client = client
        self._cached = cached
        self._metrics = metrics

    def cached(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self._cached(f"{namespace}/{name}")
        return None if obj is None else secret_manifest(obj)

    async def read(
        self, namespace: str, name: str, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        """The Secret from the cache, or with one GET when the cache has none (or ``fresh``)."""
        if not fresh:
            cached = self.cached(namespace, name)
            if cached is not None:
                return cached
        try:
            with kube_errors():
                secret = await self.client.get(Secret, name, namespace=namespace)
        except KubeNotFound:
            return None
        return secret_manifest(secret)

    async def apply(
        self, plan: TargetPlan, namespace: str, name: str, *, manager: str
    ) -> Verb | None:
        """Carry out ``plan``'s create, update or delete as field manager ``manager`` (the
        ExternalSecret's, :func:`~sealbox.sync.field_manager`, so ``managedFields`` say which
        keys it wrote); the verb sent (None: nothing).

        Raises:
            KubeError: the apiserver refused (a conflict included: read again and re-plan).
        """
        body = plan.body or {}
        verb: Verb
        if plan.action == "create":
            with kube_errors():
                await self.client.create(
                    cast(Secret, Secret.from_dict(body)), field_manager=manager
                )
            verb = "create"
        elif plan.action == "update":
            with kube_errors():
                await self.client.replace(
                    cast(Secret, Secret.from_dict(body)), field_manager=manager
                )
            verb = "update"
        elif plan.action == "delete":
            try:
                with kube_errors():
                    await self.client.delete(Secret, name, namespace=namespace)
            except KubeNotFound:
                pass  # already gone is what delete wanted
            verb = "delete"
        else:
            return None
        self._metrics.secret_write(verb)
        return verb
