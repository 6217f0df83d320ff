"""The RBAC permission graph of a set of manifests, and who can read a Secret through it.

* :mod:`~sealbox.audit.rbac.rules` — policy rules and the exact RBAC matcher;
* :mod:`~sealbox.audit.rbac.graph` — identities, roles with aggregation, bindings as grants;
* :mod:`~sealbox.audit.rbac.capabilities` and :mod:`~sealbox.audit.rbac.families` — what a
  subject's rules let it do to Secrets (direct reads and the indirect paths
  of the Kubernetes RBAC good practices, "Privilege escalation risks");
* :mod:`~sealbox.audit.rbac.paths` — :func:`who_can_read` and the reachability behind it,
  returning :class:`~sealbox.audit.rbac.access.ReadAccess` records;
* :mod:`~sealbox.audit.rbac.pods` — which workloads mount which Secrets;
* :mod:`~sealbox.audit.rbac.clusters` and :mod:`~sealbox.audit.rbac.namespaces` — which
  inputs form one cluster (:func:`split_clusters`), and where namespace-less objects land.

The controls built on this, and their messages, live in :mod:`sealbox.audit.checks`.
"""

from __future__ import annotations

from sealbox.audit.rbac.capabilities import TERMINAL_FAMILIES, Link, PathGrant
from sealbox.audit.rbac.clusters import KUSTOMIZATION_FILES, Cluster, split_clusters
from sealbox.audit.rbac.graph import ALL_SCOPES, MASTERS, Identity, RbacGraph
from sealbox.audit.rbac.namespaces import DEFAULT_NAMESPACE, Namespaces
from sealbox.audit.rbac.paths import ANY_NAME, RbacAnalysis, ReadAccess, who_can_read

__all__ = [
    "ALL_SCOPES",
    "ANY_NAME",
    "DEFAULT_NAMESPACE",
    "KUSTOMIZATION_FILES",
    "MASTERS",
    "TERMINAL_FAMILIES",
    "Cluster",
    "Identity",
    "Link",
    "Namespaces",
    "PathGrant",
    "RbacAnalysis",
    "RbacGraph",
    "ReadAccess",
    "split_clusters",
    "who_can_read",
]
