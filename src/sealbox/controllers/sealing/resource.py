"""``SealedSecret`` as a lightkube resource, for the client calls of the sealing controller.

The CRD is upstream's (``deploy/sealing/crd.yaml``), so existing objects and tools keep working;
this names its group, version, kind and plural once. A generic resource is a ``dict`` (its
``metadata`` stays a plain mapping when read from the API); :func:`sealed_secret_manifest` turns
one into the plain JSON-shaped ``dict`` that :mod:`sealbox.sealing` reads, whichever way it was
built.
"""

from __future__ import annotations

from typing import Any

from lightkube.generic_resource import GenericNamespacedResource, create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta

__all__ = [
    "SEALED_SECRET_API_VERSION",
    "SEALED_SECRET_CRD",
    "SEALED_SECRET_KIND",
    "SealedSecret",
    "sealed_secret_manifest",
]

_GROUP = "bitnami.com"
_VERSION = "v1alpha1"
_PLURAL = "sealedsecrets"
SEALED_SECRET_KIND = "SealedSecret"  # noqa: S105 - a kind, not a password
#: ``apiVersion`` of every SealedSecret, and of the ownerReference a controlled Secret carries.
SEALED_SECRET_API_VERSION = f"{_GROUP}/{_VERSION}"
#: The CustomResourceDefinition's name (``<plural>.<group>``).
SEALED_SECRET_CRD = f"{_PLURAL}.{_GROUP}"

#: The namespaced resource; ``SealedSecret.Status`` is its ``status`` subresource (the controller
#: writes conditions there: the CRD enables it, so a write to the main resource ignores status).
SealedSecret = create_namespaced_resource(_GROUP, _VERSION, SEALED_SECRET_KIND, _PLURAL)


def sealed_secret_manifest(obj: GenericNamespacedResource) -> dict[str, Any]:
    """``obj`` as plain JSON-shaped data (``metadata`` a mapping even if set as ObjectMeta).

    A shallow copy: nested mappings are ``obj``'s own, so callers that change them copy first.
    """
    manifest: dict[str, Any] = dict(obj)
    if isinstance(manifest.get("metadata"), ObjectMeta):
        manifest["metadata"] = manifest["metadata"].to_dict()
    manifest.setdefault("apiVersion", SEALED_SECRET_API_VERSION)
    manifest.setdefault("kind", SEALED_SECRET_KIND)
    return manifest
