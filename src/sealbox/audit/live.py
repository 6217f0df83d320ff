"""A running cluster as audit input: API objects become the :class:`Manifest` objects the file
loader makes, so every manifest control judges them the same way.

What is read, each with paged ``list`` calls over all namespaces (nothing else: no get, no
watch, no write), is :data:`RESOURCES`: RBAC objects, service accounts, ConfigMaps (their values
are fair game: a credential in a ConfigMap is what SBX-202 looks for), workloads, and Secrets.
Secrets are listed as ``PartialObjectMetadataList`` (:func:`sealbox.kube.metadata_pages`): the
apiserver sends each Secret's metadata and never its ``data``, and a reply of another kind is
refused. RBAC cannot grant "metadata only", so the auditor's role holds ``list secrets``; that a
full list is never *asked for* is what keeps the values out, and the report says so.

Pods and ReplicaSets, Jobs run by a controller the audit also reads (a Deployment's ReplicaSet,
a CronJob's Job, their Pods) are skipped: their owner's template gives the same findings once.

A metadata list carries no Secret ``type``; the legacy service-account token Secrets (SBX-205)
are found with one more metadata-only list, ``fieldSelector=type=kubernetes.io/service-account-
token``. Controls that need a Secret's values (SBX-201, SBX-204, SBX-206) cannot fire live.

Each object's location is ``cluster:<context>/<namespace>/<Kind>/<name>`` (no namespace part for
cluster-scoped objects); ``managedFields`` are dropped. :class:`ApiCalls` counts every request
by verb and resource for the report's ``apiCalls`` section.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import Client
from lightkube.resources.core_v1 import Secret

from sealbox.audit.loader import LoadResult
from sealbox.audit.model import InputProblem, Location, Manifest
from sealbox.errors import KubeError, KubeForbidden
from sealbox.kube import METADATA_LIST_ACCEPT, kube_errors, metadata_pages

__all__ = [
    "CLUSTER_ROLE",
    "LIST_SECRETS_WHY",
    "RESOURCES",
    "ApiCalls",
    "ClusterRead",
    "LiveResource",
    "location",
    "read_cluster",
]

CLUSTER_ROLE = "sealbox-auditor"
TOKEN_TYPE = "kubernetes.io/service-account-token"  # noqa: S105 - a Secret type, not a token
PAGE = 500
LIST_SECRETS_WHY = (
    "RBAC cannot grant metadata-only access, so the sealbox-auditor role holds list on secrets; "
    "the audit lists them only as PartialObjectMetadataList (names, labels, annotations: never "
    "data) and refuses any other reply"
)


@dataclass(frozen=True, slots=True)
class LiveResource:
    """One resource the live audit lists: API group/version, plural, the kind of its items."""

    api_version: str
    plural: str
    kind: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def path(self) -> str:
        prefix = "/apis/" if "/" in self.api_version else "/api/"
        return f"{prefix}{self.api_version}/{self.plural}"


RESOURCES: tuple[LiveResource, ...] = (
    LiveResource("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole"),
    LiveResource("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding"),
    LiveResource("rbac.authorization.k8s.io/v1", "roles", "Role"),
    LiveResource("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    LiveResource("v1", "serviceaccounts", "ServiceAccount"),
    LiveResource("v1", "configmaps", "ConfigMap"),
    LiveResource("v1", "pods", "Pod"),
    LiveResource("v1", "podtemplates", "PodTemplate"),
    LiveResource("v1", "replicationcontrollers", "ReplicationController"),
    LiveResource("apps/v1", "deployments", "Deployment"),
    LiveResource("apps/v1", "statefulsets", "StatefulSet"),
    LiveResource("apps/v1", "daemonsets", "DaemonSet"),
    LiveResource("apps/v1", "replicasets", "ReplicaSet"),
    LiveResource("batch/v1", "jobs", "Job"),
    LiveResource("batch/v1", "cronjobs", "CronJob"),
)
SECRETS = LiveResource("v1", "secrets", "Secret")
"""Listed by metadata only; in :data:`RESOURCES`' role, not in the list of full reads."""

# A controller kind whose template already yields the findings of the objects it runs.
_OWNERS = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
    }
)
_SKIP_OWNED = frozenset({"Pod", "ReplicaSet", "Job"})


@dataclass
class ApiCalls:
    """Requests made, by (verb, resource, how), and the objects they returned."""

    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    objects: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def add(
        self, resource: LiveResource, items: int, *, metadata_only: bool = False, where: str = ""
    ) -> None:
        how = "metadata only (PartialObjectMetadataList)" if metadata_only else "full objects"
        key = ("list", _qualified(resource), f"{how}, {where}" if where else how)
        self.requests[key] += 1
        self.objects[key] += items

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "verb": verb,
                "resource": resource,
                "read": how,
                "requests": self.requests[verb, resource, how],
                "objects": self.objects[verb, resource, how],
            }
            for verb, resource, how in self.requests
        ]


@dataclass
class ClusterRead:
    """What :func:`read_cluster` found: the loaded objects, calls made and owned objects skipped."""

    loaded: LoadResult
    calls: ApiCalls
    skipped_owned: Counter[str]

    def sections(self, context: str, server: str) -> dict[str, Any]:
        counts = Counter(manifest.kind for manifest in self.loaded.manifests)
        cluster: dict[str, Any] = {
            "context": context,
            "server": server,
            "permissions": f"read-only, ClusterRole {CLUSTER_ROLE} (deploy/rbac/"
            f"{CLUSTER_ROLE}.yaml); only list calls are made (see API calls)",
            "secrets": LIST_SECRETS_WHY,
            "objects": dict(sorted(counts.items())),
        }
        if self.skipped_owned:
            cluster["skippedOwned"] = dict(sorted(self.skipped_owned.items()))
        source = {
            "input": f"cluster:{context}",
            "auditedAs": "live cluster",
            "from": "--kubeconfig",
        }
        return {"inputs": [source], "cluster": cluster, "apiCalls": self.calls.rows()}


def location(context: str, kind: str, namespace: str | None, name: str) -> Location:
    """``cluster:<context>/<namespace>/<kind>/<name>``, without a namespace when there is none."""
    parts = [f"cluster:{context}", *([namespace] if namespace else []), kind, name]
    return Location("/".join(parts))


def read_cluster(client: Client, context: str) -> ClusterRead:
    """List every resource of :data:`RESOURCES` in full and Secrets by metadata.

    A list the user may not make (403) becomes an input problem naming the missing permission,
    and the audit goes on with the rest (KubeForbidden when no list at all is allowed); any
    other API failure raises its KubeError.
    """
    loaded = LoadResult()
    calls = ApiCalls()
    skipped: Counter[str] = Counter()
    where = Location(f"cluster:{context}")
    for resource in RESOURCES:
        try:
            for item in _list(client, resource, calls):
                if _owned(resource.kind, item):
                    skipped[resource.kind] += 1
                    continue
                loaded.manifests.append(_manifest(context, resource, item))
        except KubeForbidden:
            loaded.problems.append(_forbidden(where, resource))
    try:
        tokens = set(_token_secrets(client, calls))
        for page in metadata_pages(client, Secret, limit=PAGE):
            calls.add(SECRETS, len(page.items), metadata_only=True)
            for meta in page.items:
                body: dict[str, Any] = {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": meta.name,
                        "namespace": meta.namespace,
                        "labels": dict(meta.labels),
                        "annotations": dict(meta.annotations),
                    },
                }
                if (meta.namespace, meta.name) in tokens:
                    body["type"] = TOKEN_TYPE
                loaded.manifests.append(_manifest(context, SECRETS, body))
    except KubeForbidden:
        loaded.problems.append(_forbidden(where, SECRETS))
    if not calls.requests:  # a scan never passes on nothing
        raise KubeForbidden(
            f"cluster:{context}: forbidden to list anything the audit reads; bind the ClusterRole "
            f"{CLUSTER_ROLE} (deploy/rbac/{CLUSTER_ROLE}.yaml) to the user running the audit",
            status=403,
        )
    return ClusterRead(loaded, calls, skipped)


def _token_secrets(client: Client, calls: ApiCalls) -> Iterator[tuple[str | None, str]]:
    """(namespace, name) of each legacy service-account token Secret: a metadata list has no
    ``type``, so the type is asked for with a field selector (metadata only, like every list)."""
    http = _http(client)
    params = {"limit": str(PAGE), "fieldSelector": f"type={TOKEN_TYPE}"}
    while True:
        with kube_errors():
            response = http.get(
                SECRETS.path, params=params, headers={"Accept": METADATA_LIST_ACCEPT}
            )
            response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict) or body.get("kind") != "PartialObjectMetadataList":
            raise KubeError(f"GET {SECRETS.path}: the answer is not a PartialObjectMetadataList")
        items = [item.get("metadata") or {} for item in body.get("items") or ()]
        calls.add(SECRETS, len(items), metadata_only=True, where=params["fieldSelector"])
        for meta in items:
            yield meta.get("namespace"), str(meta.get("name", ""))
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return
        params["continue"] = str(token)


def _list(client: Client, resource: LiveResource, calls: ApiCalls) -> Iterator[dict[str, Any]]:
    """Every object of ``resource`` in every namespace, page by page."""
    http = _http(client)
    params = {"limit": str(PAGE)}
    while True:
        with kube_errors():
            response = http.get(resource.path, params=params)
            response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise KubeError(f"GET {resource.path}: the answer is not a list")
        items = [item for item in body["items"] if isinstance(item, dict)]
        calls.add(resource, len(items))
        yield from items
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return
        params["continue"] = str(token)


def _http(client: Client) -> httpx2.Client:
    """The client's httpx2 client (auth, TLS, retries): lightkube has no raw list call."""
    http = client._client._client
    if not isinstance(http, httpx2.Client):  # pragma: no cover - lightkube changed its insides
        raise TypeError("lightkube.Client no longer keeps an httpx2.Client in _client._client")
    return http


def _owned(kind: str, item: Mapping[str, Any]) -> bool:
    if kind not in _SKIP_OWNED:
        return False
    owners = (item.get("metadata") or {}).get("ownerReferences") or ()
    return any(
        isinstance(owner, Mapping) and owner.get("controller") and owner.get("kind") in _OWNERS
        for owner in owners
    )


def _manifest(context: str, resource: LiveResource, item: Mapping[str, Any]) -> Manifest:
    meta = dict(item.get("metadata") or {})
    meta.pop("managedFields", None)
    body = {**item, "apiVersion": resource.api_version, "kind": resource.kind, "metadata": meta}
    name = str(meta.get("name") or "")
    namespace = meta.get("namespace") or None
    return Manifest(
        body=body,
        location=location(context, resource.kind, namespace, name),
        kind=resource.kind,
        api_version=resource.api_version,
        name=name,
        namespace=namespace,
    )


def _qualified(resource: LiveResource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def _forbidden(where: Location, resource: LiveResource) -> InputProblem:
    return InputProblem(
        where,
        f"forbidden to list {_qualified(resource)}: not audited; bind the ClusterRole "
        f"{CLUSTER_ROLE} (deploy/rbac/sealbox-auditor.yaml) to the user running the audit",
    )
