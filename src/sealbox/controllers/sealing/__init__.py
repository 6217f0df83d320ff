"""The sealing controller: SealedSecrets (``bitnami.com/v1alpha1``) in, Secrets out.

The Kubernetes side of :mod:`sealbox.sealing` (which stays pure): the typed resource, the keys
kept in the cluster, the HTTP endpoints kubeseal-style clients call, and the reconcile loop.
"""

from __future__ import annotations

from sealbox.controllers.sealing.resource import (
    SEALED_SECRET_API_VERSION,
    SEALED_SECRET_CRD,
    SEALED_SECRET_KIND,
    SealedSecret,
    sealed_secret_manifest,
)

__all__ = [
    "SEALED_SECRET_API_VERSION",
    "SEALED_SECRET_CRD",
    "SEALED_SECRET_KIND",
    "SealedSecret",
    "sealed_secret_manifest",
]
