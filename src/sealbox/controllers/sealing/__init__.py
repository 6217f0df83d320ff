"""The sealing controller: SealedSecrets (``bitnami.com/v1alpha1``) in, Secrets out.

The Kubernetes side of :mod:`sealbox.sealing` (which stays pure): the typed resource, the keys
kept in the cluster (their Secret format, :mod:`.key_secrets`; their lifecycle,
:mod:`.keystore`), the HTTP endpoints kubeseal-style clients call, and the reconcile loop
(:mod:`.reconcile`, :mod:`.secrets`, :mod:`.status`, :mod:`.owned`) that :mod:`.app` runs.
"""

from __future__ import annotations

from sealbox.controllers.sealing.app import (
    SealingController,
    SealingSettings,
    build_controller,
    load_key_wrapper,
    run_sealing_controller,
)
from sealbox.controllers.sealing.backup import (
    BackedUpKey,
    KeyBackup,
    backup_keys,
    parse_recipients,
    record_backup,
)
from sealbox.controllers.sealing.key_secrets import (
    ACTIVE,
    BACKED_UP_ANNOTATION,
    DEFAULT_KEY_PREFIX,
    KEY_LABEL,
    StoredKey,
)
from sealbox.controllers.sealing.keystore import DEFAULT_RENEW_PERIOD, KeyOrder, KeyStore
from sealbox.controllers.sealing.metrics import SealingMetrics
from sealbox.controllers.sealing.owned import OwnedSecretDeletions
from sealbox.controllers.sealing.reconcile import ReconcileOptions, SealingReconciler
from sealbox.controllers.sealing.resource import (
    SEALED_SECRET_API_VERSION,
    SEALED_SECRET_CRD,
    SEALED_SECRET_KIND,
    SealedSecret,
    sealed_secret_manifest,
)
from sealbox.controllers.sealing.secrets import SecretWrite, is_owned, plan_write
from sealbox.controllers.sealing.selector import parse_label_selector
from sealbox.controllers.sealing.server import SealingServer, UndecodableSealedSecret
from sealbox.controllers.sealing.status import SyncResult, next_status
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
    "OwnedSecretDeletions",
    "ReconcileOptions",
    "SealedSecret",
    "SealingController",
    "SealingMetrics",
    "SealingReconciler",
    "SealingServer",
    "SealingSettings",
    "SecretWrite",
    "StoredKey",
    "SyncResult",
    "UndecodableSealedSecret",
    "backup_keys",
    "build_controller",
    "is_owned",
    "load_key_wrapper",
    "next_status",
    "parse_label_selector",
    "parse_recipients",
    "plan_write",
    "record_backup",
    "run_sealing_controller",
    "sealed_secret_manifest",
]
