"""Sealing scopes: which SealedSecret a sealed value may be opened for.

The scope is bound only through the RSA-OAEP label, so the label strings must match upstream's
``EncryptionLabel`` exactly: ``"<namespace>/<name>"`` (strict), ``"<namespace>"``
(namespace-wide) or empty (cluster-wide). Names and namespaces never contain ``/``, so the labels
of different scopes cannot collide.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "CLUSTER_WIDE_ANNOTATION",
    "NAMESPACE_WIDE_ANNOTATION",
    "Scope",
    "label_for",
    "scope_annotations",
    "scope_from_annotations",
]

NAMESPACE_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/cluster-wide"


class Scope(enum.Enum):
    """The three upstream scopes; the value is the ``--scope`` spelling."""

    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"


def label_for(scope: Scope, namespace: str, name: str) -> bytes:
    """The OAEP label that binds a value to ``scope`` for the SealedSecret ``namespace/name``."""
    if scope is Scope.CLUSTER_WIDE:
        return b""
    if scope is Scope.NAMESPACE_WIDE:
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def scope_from_annotations(annotations: Mapping[str, str] | None) -> Scope:
    """The scope a SealedSecret's outer ``metadata.annotations`` select (upstream
    ``SecretScope``): only the exact string ``"true"`` counts, and cluster-wide wins."""
    annotations = annotations or {}
    if annotations.get(CLUSTER_WIDE_ANNOTATION) == "true":
        return Scope.CLUSTER_WIDE
    if annotations.get(NAMESPACE_WIDE_ANNOTATION) == "true":
        return Scope.NAMESPACE_WIDE
    return Scope.STRICT


def scope_annotations(scope: Scope) -> dict[str, str]:
    """The annotation kubeseal writes on a SealedSecret sealed with ``scope`` (none for strict)."""
    if scope is Scope.CLUSTER_WIDE:
        return {CLUSTER_WIDE_ANNOTATION: "true"}
    if scope is Scope.NAMESPACE_WIDE:
        return {NAMESPACE_WIDE_ANNOTATION: "true"}
    return {}
