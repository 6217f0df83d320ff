"""``ExternalSecret``, ``SecretStore`` and ``ClusterSecretStore`` as lightkube resources.

The CRDs are ``deploy/sync``'s: External Secrets Operator's ``external-secrets.io/v1`` API (the
subset Sealbox implements), so users' ESO manifests keep working. This names their group,
version, kinds and plurals once, for the sync controller's client calls. Each is a generic
resource (a ``dict``); ``<Resource>.Status`` is its ``status`` subresource, the only part of
these objects the controller writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube.generic_resource import create_global_resource, create_namespaced_resource

__all__ = [
    "CLUSTER_SECRET_STORE_KIND",
    "EXTERNAL_SECRETS_API_VERSION",
    "EXTERNAL_SECRET_KIND",
    "SECRET_STORE_KIND",
    "SYNC_CRDS",
    "ClusterSecretStore",
    "ExternalSecret",
    "SecretStore",
    "external_secret_manifest",
]

_GROUP = "external-secrets.io"
_VERSION = "v1"
#: ``apiVersion`` of the three kinds, and of the ownerReference an owned target Secret carries.
EXTERNAL_SECRETS_API_VERSION = f"{_GROUP}/{_VERSION}"
EXTERNAL_SECRET_KIND = "ExternalSecret"  # noqa: S105 - a kind, not a password
SECRET_STORE_KIND = "SecretStore"  # noqa: S105 - a kind, not a password
CLUSTER_SECRET_STORE_KIND = "ClusterSecretStore"  # noqa: S105 - a kind, not a password

_PLURALS = {
    EXTERNAL_SECRET_KIND: "externalsecrets",
    SECRET_STORE_KIND: "secretstores",
    CLUSTER_SECRET_STORE_KIND: "clustersecretstores",
}
#: The CustomResourceDefinitions' names (``<plural>.<group>``), by kind.
SYNC_CRDS = {kind: f"{plural}.{_GROUP}" for kind, plural in _PLURALS.items()}

#: Namespaced: what to fetch and which Secret to write (short name ``es``).
ExternalSecret = create_namespaced_resource(
    _GROUP, _VERSION, EXTERNAL_SECRET_KIND, _PLURALS[EXTERNAL_SECRET_KIND]
)
#: Namespaced: a provider for the ExternalSecrets of its namespace (short name ``ss``).
SecretStore = create_namespaced_resource(
    _GROUP, _VERSION, SECRET_STORE_KIND, _PLURALS[SECRET_STORE_KIND]
)
#: Cluster-scoped: a provider for the namespaces its ``conditions`` admit (short name ``css``).
ClusterSecretStore = create_global_resource(
    _GROUP, _VERSION, CLUSTER_SECRET_STORE_KIND, _PLURALS[CLUSTER_SECRET_STORE_KIND]
)


def external_secret_manifest(obj: Any) -> dict[str, Any]:
    """A cached ExternalSecret as plain JSON-shaped data."""
    manifest: dict[str, Any] = dict(obj) if isinstance(obj, Mapping) else obj.to_dict()
    metadata = manifest.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        manifest["metadata"] = metadata.to_dict()
    manifest.setdefault("apiVersion", EXTERNAL_SECRETS_API_VERSION)
    manifest.setdefault("kind", EXTERNAL_SECRET_KIND)
    return manifest
