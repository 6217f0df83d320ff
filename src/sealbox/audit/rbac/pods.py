"""Which workloads in the input mount which Secrets, and whose service-account token they carry.

The RBAC paths through ``pods/exec``, ``pods/attach``, ephemeral containers and ``nodes/proxy``
read a Secret only from inside a pod that has it (spec §5.4, §5.7): as a ``secret`` or
``projected`` volume, or through ``env[].valueFrom.secretKeyRef`` / ``envFrom[].secretRef``.
The same pods also hold their service account's token unless automounting is switched off on
the pod or, when the pod does not say, on the ServiceAccount (Kubernetes API defaults), so
getting into a pod also means acting as its service account.

``PodTemplate`` objects start no pods and are ignored. A namespaced object without
``metadata.namespace`` counts as being in ``default`` (what ``kubectl apply`` would do).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sealbox.audit.model import Manifest, ObjectRef

__all__ = ["DEFAULT_NAMESPACE", "PodIndex", "PodInfo", "namespace_of"]

DEFAULT_NAMESPACE = "default"

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


def namespace_of(manifest: Manifest) -> str:
    """``metadata.namespace``, or ``default`` when it is not written."""
    return manifest.namespace or DEFAULT_NAMESPACE


@dataclass(frozen=True, slots=True)
class PodInfo:
    """One workload's pods: the Secrets they can read and the service account they run as."""

    ref: ObjectRef
    namespace: str
    name: str
    is_pod: bool
    secrets: frozenset[str]
    service_account: str
    token: bool

    @property
    def label(self) -> str:
        return str(self.ref)


def _items(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping):
                yield item


def _name(node: object, key: str) -> str | None:
    if isinstance(node, Mapping):
        value = node.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _pod_spec(manifest: Manifest) -> Mapping[str, Any] | None:
    path = _POD_SPEC_PATHS.get(manifest.kind)
    if path is None:
        return None
    node: object = manifest.body
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, Mapping) else None


def _secrets(spec: Mapping[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    for volume in _items(spec.get("volumes")):
        found.add(_name(volume.get("secret"), "secretName") or "")
        projected = volume.get("projected")
        if isinstance(projected, Mapping):
            for source in _items(projected.get("sources")):
                found.add(_name(source.get("secret"), "name") or "")
    for field in _CONTAINER_FIELDS:
        for container in _items(spec.get(field)):
            for env in _items(container.get("env")):
                value_from = env.get("valueFrom")
                if isinstance(value_from, Mapping):
                    found.add(_name(value_from.get("secretKeyRef"), "name") or "")
            for env_from in _items(container.get("envFrom")):
                found.add(_name(env_from.get("secretRef"), "name") or "")
    found.discard("")
    return frozenset(found)


def _service_account(spec: Mapping[str, Any]) -> str:
    return _name(spec, "serviceAccountName") or _name(spec, "serviceAccount") or "default"


class PodIndex:
    """The workloads of the input, by namespace."""

    def __init__(
        self,
        manifests: Iterable[Manifest],
        automount: Mapping[tuple[str, str], bool | None],
    ) -> None:
        self._by_namespace: dict[str, list[PodInfo]] = {}
        for manifest in manifests:
            spec = _pod_spec(manifest)
            if spec is None:
                continue
            namespace = namespace_of(manifest)
            account = _service_account(spec)
            pod_setting = spec.get("automountServiceAccountToken")
            if isinstance(pod_setting, bool):
                token = pod_setting
            else:
                token = automount.get((namespace, account)) is not False
            info = PodInfo(
                ref=manifest.ref,
                namespace=namespace,
                name=manifest.name,
                is_pod=manifest.kind == "Pod",
                secrets=_secrets(spec),
                service_account=account,
                token=token,
            )
            self._by_namespace.setdefault(namespace, []).append(info)

    @property
    def namespaces(self) -> frozenset[str]:
        return frozenset(self._by_namespace)

    def in_namespace(self, namespace: str) -> tuple[PodInfo, ...]:
        return tuple(self._by_namespace.get(namespace, ()))

    def in_scope(self, scope: str) -> Iterator[PodInfo]:
        """Workloads in ``scope`` (a namespace, or ``*`` for all of them)."""
        if scope != "*":
            yield from self._by_namespace.get(scope, ())
            return
        for namespace in sorted(self._by_namespace):
            yield from self._by_namespace[namespace]

    def mounting(self, namespace: str, secret: str) -> tuple[PodInfo, ...]:
        """Workloads in ``namespace`` whose pods can read Secret ``secret``."""
        return tuple(p for p in self._by_namespace.get(namespace, ()) if secret in p.secrets)
