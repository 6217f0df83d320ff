"""Where kube-apiserver stores each built-in resource: the table behind etcd key parsing.

Built-in resources are stored under their plural name *without* their API group
(``/registry/deployments/<ns>/<name>``, not ``/registry/apps/deployments/...``), so the group has
to be known to match a key against an EncryptionConfiguration entry such as
``deployments.apps``. A few resources use a historical prefix instead of their name::

    controllers          replicationcontrollers
    services/endpoints   endpoints
    services/specs       services
    minions              nodes
    ingress              ingresses.networking.k8s.io  (also served as ingresses.extensions)

Everything else that is stored as ``<group>/<resource>`` (custom resources, CRDs, APIServices)
carries its group in the key and needs no table. Sources: ``pkg/kubeapiserver/
default_storage_factory_builder.go`` and ``test/integration/etcd/data.go`` upstream.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = ["BUILTIN_GROUPS", "GROUP_OF_SPECIAL_PREFIX", "STORAGE_PREFIX_OF"]

_CORE: Final = ""

#: Storage path segment(s) -> (group, resource) for the resources with a historical prefix.
GROUP_OF_SPECIAL_PREFIX: Final = MappingProxyType(
    {
        "controllers": (_CORE, "replicationcontrollers"),
        "services/endpoints": (_CORE, "endpoints"),
        "services/specs": (_CORE, "services"),
        "minions": (_CORE, "nodes"),
        "ingress": ("networking.k8s.io", "ingresses"),
    }
)

#: (group, resource) -> storage path segment(s) when that is not simply the resource name: the
#: inverse of the table above, plus the other groups that share one storage (``events.k8s.io``
#: events live with core events; the retired ``extensions`` group shared apps/networking/policy).
STORAGE_PREFIX_OF: Final = MappingProxyType(
    {
        **{gr: prefix for prefix, gr in GROUP_OF_SPECIAL_PREFIX.items()},
        ("events.k8s.io", "events"): "events",
        ("extensions", "ingresses"): "ingress",
        ("extensions", "daemonsets"): "daemonsets",
        ("extensions", "deployments"): "deployments",
        ("extensions", "networkpolicies"): "networkpolicies",
        ("extensions", "podsecuritypolicies"): "podsecuritypolicies",
        ("extensions", "replicasets"): "replicasets",
    }
)

_BY_GROUP: Final[dict[str, tuple[str, ...]]] = {
    _CORE: (
        "configmaps",
        "events",
        "limitranges",
        "masterleases",
        "namespaces",
        "persistentvolumeclaims",
        "persistentvolumes",
        "pods",
        "podtemplates",
        "ranges",
        "resourcequotas",
        "secrets",
        "serviceaccounts",
    ),
    "admissionregistration.k8s.io": (
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
        "mutatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "validatingwebhookconfigurations",
    ),
    "apps": ("controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"),
    "autoscaling": ("horizontalpodautoscalers",),
    "batch": ("cronjobs", "jobs"),
    "certificates.k8s.io": (
        "certificatesigningrequests",
        "clustertrustbundles",
        "podcertificaterequests",
    ),
    "coordination.k8s.io": ("leasecandidates", "leases"),
    "discovery.k8s.io": ("endpointslices",),
    "flowcontrol.apiserver.k8s.io": ("flowschemas", "prioritylevelconfigurations"),
    "internal.apiserver.k8s.io": ("storageversions",),
    "networking.k8s.io": ("ingressclasses", "ipaddresses", "networkpolicies", "servicecidrs"),
    "node.k8s.io": ("runtimeclasses",),
    "policy": ("poddisruptionbudgets", "podsecuritypolicies"),
    "rbac.authorization.k8s.io": ("clusterrolebindings", "clusterroles", "rolebindings", "roles"),
    "resource.k8s.io": (
        "deviceclasses",
        "devicetaintrules",
        "resourceclaims",
        "resourceclaimtemplates",
        "resourceslices",
    ),
    "scheduling.k8s.io": ("priorityclasses",),
    "storage.k8s.io": (
        "csidrivers",
        "csinodes",
        "csistoragecapacities",
        "storageclasses",
        "volumeattachments",
        "volumeattributesclasses",
    ),
    "storagemigration.k8s.io": ("storageversionmigrations",),
}

#: Built-in resource stored as ``<prefix>/<resource>/...`` -> its API group ("" for core).
BUILTIN_GROUPS: Final = MappingProxyType(
    {resource: group for group, resources in _BY_GROUP.items() for resource in resources}
)
