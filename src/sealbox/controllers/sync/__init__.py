"""The sync controller: ExternalSecrets (``external-secrets.io/v1``) in, Secrets out.

The Kubernetes side of :mod:`sealbox.sync` (which stays pure). So far the typed resources
(:mod:`.resources`) for the CRDs in ``deploy/sync``.
"""

from __future__ import annotations

from sealbox.controllers.sync.resources import (
    CLUSTER_SECRET_STORE_KIND,
    EXTERNAL_SECRET_KIND,
    EXTERNAL_SECRETS_API_VERSION,
    SECRET_STORE_KIND,
    SYNC_CRDS,
    ClusterSecretStore,
    ExternalSecret,
    SecretStore,
)

__all__ = [
    "CLUSTER_SECRET_STORE_KIND",
    "EXTERNAL_SECRETS_API_VERSION",
    "EXTERNAL_SECRET_KIND",
    "SECRET_STORE_KIND",
    "SYNC_CRDS",
    "ClusterSecretStore",
    "ExternalSecret",
    "SecretStore",
]
