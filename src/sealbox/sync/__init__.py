"""External secret sync, pure: the ExternalSecret-compatible API and the controller's decisions.

Nothing here imports a Kubernetes or provider client (``tests/test_layering.py`` checks it); the
edges are :mod:`.providers` (the stores) and the controller that will run on
:mod:`sealbox.kube.runtime`.

- :mod:`.model`, :mod:`.stores`: ExternalSecret, SecretStore and ClusterSecretStore specs
  (``external-secrets.io/v1``, the subset in ``docs/sync.md``, "API") parsed from plain dicts,
  every problem named by its field path (:mod:`.fields`: the dict reader and its error;
  :mod:`.provider_specs`: a store's ``spec.provider`` block).
- :mod:`.refresh`: when an ExternalSecret is due (ESO's refresh policies), the version string its
  status records, the target Secret's data hash and managed labels, jittered next refresh times.
- :mod:`.render`, :mod:`.target`: the target Secret's content (fetched values decoded, merged,
  templated, ESO's order) and the write that puts it in place (ESO's marks and policies).
- :mod:`.consumers`, :mod:`.rollout`: which workloads read which Secret keys, and which must
  restart when a key changes.
"""

from __future__ import annotations

from sealbox.sync.consumers import (
    RESTART_ON_CHANGE,
    WORKLOAD_KINDS,
    ConsumerIndex,
    SecretUse,
    UseKind,
    WorkloadRef,
    secret_uses,
    stale_pods,
)
from sealbox.sync.fields import SyncSpecError
from sealbox.sync.model import (
    DEFAULT_REFRESH_INTERVAL,
    CreationPolicy,
    DataFromItem,
    DataItem,
    DecodingStrategy,
    DeletionPolicy,
    ExternalSecretSpec,
    FindSpec,
    MergePolicy,
    RefreshPolicy,
    RemoteRefSpec,
    StoreKind,
    StoreRef,
    TargetSpec,
    TemplateSpec,
    parse_external_secret,
)
from sealbox.sync.provider_specs import (
    PROVIDERS,
    AwsProvider,
    KubernetesProvider,
    SecretKeySelector,
    ServiceAccountSelector,
    StoreProvider,
    VaultAppRole,
    VaultKubernetesAuth,
    VaultProvider,
)
from sealbox.sync.refresh import (
    ANNOTATION_DATA_HASH,
    ANNOTATION_FORCE_SYNC,
    JITTER_FRACTION,
    LABEL_MANAGED,
    LABEL_MANAGED_VALUE,
    LABEL_OWNER,
    MAX_JITTER,
    STARTUP_SPREAD,
    Decision,
    RefreshReason,
    SyncStatus,
    data_hash,
    field_manager,
    needs_refresh,
    next_refresh,
    owner_label,
    synced_resource_version,
)
from sealbox.sync.render import (
    DEFAULT_SECRET_TYPE,
    Fetched,
    Rendered,
    RenderError,
    decode_value,
    render_target,
)
from sealbox.sync.rollout import (
    DEFAULT_RESTART_WINDOW,
    RESTARTED_AT,
    ChangedKeys,
    RestartDebouncer,
    restart_patch,
)
from sealbox.sync.stores import (
    LabelSelector,
    NamespaceCondition,
    StoreSpec,
    parse_store,
    store_allows,
)
from sealbox.sync.target import (
    ES_API_VERSION,
    TargetAction,
    TargetPlan,
    plan_remote_gone,
    plan_target,
)

__all__ = [
    "ANNOTATION_DATA_HASH",
    "ANNOTATION_FORCE_SYNC",
    "DEFAULT_REFRESH_INTERVAL",
    "DEFAULT_RESTART_WINDOW",
    "DEFAULT_SECRET_TYPE",
    "ES_API_VERSION",
    "JITTER_FRACTION",
    "LABEL_MANAGED",
    "LABEL_MANAGED_VALUE",
    "LABEL_OWNER",
    "MAX_JITTER",
    "PROVIDERS",
    "RESTARTED_AT",
    "RESTART_ON_CHANGE",
    "STARTUP_SPREAD",
    "WORKLOAD_KINDS",
    "AwsProvider",
    "ChangedKeys",
    "ConsumerIndex",
    "CreationPolicy",
    "DataFromItem",
    "DataItem",
    "Decision",
    "DecodingStrategy",
    "DeletionPolicy",
    "ExternalSecretSpec",
    "Fetched",
    "FindSpec",
    "KubernetesProvider",
    "LabelSelector",
    "MergePolicy",
    "NamespaceCondition",
    "RefreshPolicy",
    "RefreshReason",
    "RemoteRefSpec",
    "RenderError",
    "Rendered",
    "RestartDebouncer",
    "SecretKeySelector",
    "SecretUse",
    "ServiceAccountSelector",
    "StoreKind",
    "StoreProvider",
    "StoreRef",
    "StoreSpec",
    "SyncSpecError",
    "SyncStatus",
    "TargetAction",
    "TargetPlan",
    "TargetSpec",
    "TemplateSpec",
    "UseKind",
    "VaultAppRole",
    "VaultKubernetesAuth",
    "VaultProvider",
    "WorkloadRef",
    "data_hash",
    "decode_value",
    "field_manager",
    "needs_refresh",
    "next_refresh",
    "owner_label",
    "parse_external_secret",
    "parse_store",
    "plan_remote_gone",
    "plan_target",
    "render_target",
    "restart_patch",
    "secret_uses",
    "stale_pods",
    "store_allows",
    "synced_resource_version",
]
