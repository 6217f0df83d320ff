"""The sealing controller: SealedSecrets (``bitnami.com/v1alpha1``) in, Secrets out.

The Kubernetes side of :mod:`sealbox.sealing` (which stays pure): the typed resource, the keys
kept in the cluster, the HTTP endpoints kubeseal-style clients call, and the reconcile loop.
"""

from __future__ import annotations

from sealbox.controllers.sealing.backup import (
    BackedUpKey,
    KeyBackup,
    backup_keys,
    parse_recipients,
    record_backup,
)
from sealbox.controllers.sealing.keystore import (
    ACTIVE,
    BACKED_UP_ANNOTATION,
    DEFAULT_KEY_PREFIX,
    DEFAULT_RENEW_PERIOD,
    KEY_LABEL,
    KeyOrder,
    KeyStore,
    StoredKey,
)
from sealbox.controllers.sealing.resource import (
    SEALED_SECRET_API_VERSION,
    SEALED_SECRET_CRD,
    SEALED_SECRET_KIND,
    SealedSecret,
    sealed_secret_manifest,
)
from sealbox.controllers.sealing.server import SealingServer, UndecodableSealedSecret
from sealbox.controllers.sealing.wrapping import WRAPPED_BY_ANNOTATION, KeyWrapper

__all__ = [
    "ACTIVE",
    "BACKED_UP_ANNOTATION",
    "DEFAULT_KEY_PREFIX",
    "DEFAULT_RENEW_PERIOD",
    "KEY_LABEL",
    "SEALED_SECRET_API_VERSION",
    "SEALED_SECRET_CRD",
    "SEALED_SECRET_KIND",
    "WRAPPED_BY_ANNOTATION",
    "BackedUpKey",
    "KeyBackup",
    "KeyOrder",
    "KeyStore",
    "KeyWrapper",
    "SealedSecret",
    "SealingServer",
    "StoredKey",
    "UndecodableSealedSecret",
    "backup_keys",
    "parse_recipients",
    "record_backup",
    "sealed_secret_manifest",
]
