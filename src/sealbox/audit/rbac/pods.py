"""Which workloads in the input mount which Secrets, and whose service-account token they carry.

The RBAC paths through ``pods/exec``, ``pods/attach``, ephemeral containers and ``nodes/proxy``
read a Secret only from inside a pod that has it: as a ``secret`` or
``projected`` volume, or through ``env[].valueFrom.secretKeyRef`` / ``envFrom[].secretRef``.
The same pods also hold their service account's token unless automounting is switched off on
the pod or, when the pod does not say, on the ServiceAccount (Kubernetes API defaults), so
getting into a pod also means acting as its service account.

``PodTemplate`` objects start no pods and are ignored. A namespaced object without
``metadata.namespace`` is placed by :class:`~sealbox.audit.rbac.namespaces.Namespaces`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from sealbox.audit.model import Manifest, ObjectRef
from sealbox.audit.podspec import UNNAMED, PodSpec, as_mapping, mappings, pod_spec
from sealbox.audit.rbac.namespaces import Namespaces

__all__ = ["PodIndex", "PodInfo"]


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


def _secrets(spec: PodSpec) -> frozenset[str]:
    """Every Secret the pods can read: volumes (secret, projected) and env references."""
    found = {name for names in spec.secret_volumes().values() for name in names}
    for container in spec.containers():
        for _, env in mappings(container.body.get("env")):
            found.add(_name(as_mapping(env.get("valueFrom")).get("secretKeyRef")))
        for _, env_from in mappings(container.body.get("envFrom")):
            found.add(_name(env_from.get("secretRef")))
    found -= {"", UNNAMED}
    return frozenset(found)


def _name(reference: object) -> str:
    name = as_mapping(reference).get("name")
    return name if isinstance(name, str) else ""


class PodIndex:
    """The workloads of the input, by namespace."""

    def __init__(
        self,
        manifests: Iterable[Manifest],
        automount: Mapping[tuple[str, str], bool | None],
        namespaces: Namespaces,
    ) -> None:
        self._by_namespace: dict[str, list[PodInfo]] = {}
        for manifest in manifests:
            spec = pod_spec(manifest)
            if spec is None or manifest.kind == "PodTemplate":  # a template starts no pods
                continue
            namespace = namespaces.of(manifest)
            account = spec.service_account
            pod_setting = spec.body.get("automountServiceAccountToken")
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

    def in_namespace(self, namespace: str) -> tuple[PodInfo, ...]:
        return tuple(self._by_namespace.get(namespace, ()))

    def in_scope(self, scope: str) -> Iterator[PodInfo]:
        """Workloads in ``scope`` (a namespace, or ``*`` for all of them)."""
        if scope != "*":
            yield from self._by_namespace.get(scope, ())
            return
        for namespace in sorted(self._by_namespace):
            yield from self._by_namespace[namespace]
