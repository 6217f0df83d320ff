"""External secret sync, pure: the ExternalSecret-compatible API and the controller's decisions.

Nothing here imports a Kubernetes or provider client (``tests/test_layering.py`` checks it); the
edges are :mod:`.providers` (the stores) and the controller that will run on
:mod:`sealbox.kube.runtime`.

- :mod:`.model`, :mod:`.stores`: ExternalSecret, SecretStore and ClusterSecretStore specs
  (``external-secrets.io/v1``, the subset in ``docs/sync.md``, "API") parsed from plain dicts,
  every problem named by its field path.
- :mod:`.refresh`: when an ExternalSecret is due (ESO's refresh policies), the version string its
  status records, the target Secret's data hash and managed labels, jittered next refresh times.
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
from sealbox.sync.rollout import (
    DEFAULT_RESTART_WINDOW,
    RESTARTED_AT,
    ChangedKeys,
    RestartDebouncer,
    restart_patch,
)

__all__ = [
    "DEFAULT_RESTART_WINDOW",
    "RESTARTED_AT",
    "RESTART_ON_CHANGE",
    "WORKLOAD_KINDS",
    "ChangedKeys",
    "ConsumerIndex",
    "RestartDebouncer",
    "SecretUse",
    "UseKind",
    "WorkloadRef",
    "restart_patch",
    "secret_uses",
    "stale_pods",
]
