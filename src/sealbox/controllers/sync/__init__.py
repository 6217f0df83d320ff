"""The sync controller: ExternalSecrets (``external-secrets.io/v1``) in, Secrets out.

The Kubernetes side of :mod:`sealbox.sync` (which stays pure), on the shared runtime:

- :mod:`.resources`: the typed resources for the CRDs in ``deploy/sync``;
- :mod:`.settings`: what the flags decide; :mod:`.app`: the process and its informers;
- :mod:`.reconcile` (with :mod:`.schedule`, :mod:`.gather`, :mod:`.targets`, :mod:`.status`,
  :mod:`.report`, :mod:`.index`): one ExternalSecret to its Secret, status and Events;
- :mod:`.store_registry` (:mod:`.store_context`, :mod:`.open_store`, :mod:`.store_status`): one
  provider and one credential per store, its ``Ready`` condition; :mod:`.remote` and
  :mod:`.budget`: coalesced, version-first reads within per-store and global call budgets;
- :mod:`.rollouts`: restarts of the workloads that read a changed key at start;
- :mod:`.metrics`: ESO's metric names and Sealbox's freshness series.
"""

from __future__ import annotations

from sealbox.controllers.sync.app import (
    CONTROLLER_NAME,
    SyncController,
    build_sync_controller,
    run_sync_controller,
)
from sealbox.controllers.sync.budget import CallBudget, TokenBucket
from sealbox.controllers.sync.metrics import SyncMetrics
from sealbox.controllers.sync.open_store import OpenStore, store_key
from sealbox.controllers.sync.reconcile import SyncReconciler
from sealbox.controllers.sync.remote import Observed, ObservedMap, RemoteReader
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
from sealbox.controllers.sync.rollouts import Rollouts
from sealbox.controllers.sync.settings import DEFAULT_DELIMITERS, SyncSettings
from sealbox.controllers.sync.store_registry import StoreNotReady, StoreRegistry

__all__ = [
    "CLUSTER_SECRET_STORE_KIND",
    "CONTROLLER_NAME",
    "DEFAULT_DELIMITERS",
    "EXTERNAL_SECRETS_API_VERSION",
    "EXTERNAL_SECRET_KIND",
    "SECRET_STORE_KIND",
    "SYNC_CRDS",
    "CallBudget",
    "ClusterSecretStore",
    "ExternalSecret",
    "Observed",
    "ObservedMap",
    "OpenStore",
    "RemoteReader",
    "Rollouts",
    "SecretStore",
    "StoreNotReady",
    "StoreRegistry",
    "SyncController",
    "SyncMetrics",
    "SyncReconciler",
    "SyncSettings",
    "TokenBucket",
    "build_sync_controller",
    "run_sync_controller",
    "store_key",
]
