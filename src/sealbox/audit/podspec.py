"""Find the pod spec inside every workload kind, and walk its containers and Secret volumes.

A Pod carries its spec at ``spec``; controllers carry a pod template at ``spec.template.spec``;
a CronJob nests one more level (``spec.jobTemplate.spec.template.spec``) and a PodTemplate keeps
it at ``template.spec``. The workload controls only ever see a :class:`PodSpec`, so each control
is written once for all nine kinds. Malformed shapes (a list where a mapping belongs, a missing
name) are skipped here rather than raised: reporting malformed objects is the loader's job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sealbox.audit.model import Manifest

__all__ = [
    "CONTAINER_FIELDS",
    "UNNAMED",
    "Container",
    "PodSpec",
    "as_mapping",
    "mappings",
    "pod_spec",
]

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
UNNAMED = "(unnamed)"  # a Secret reference without a name: still a Secret volume
_EMPTY: Mapping[str, Any] = {}


def as_mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (malformed input is not our finding)."""
    return value if isinstance(value, Mapping) else _EMPTY


def mappings(value: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The (index, item) pairs of a YAML list whose items are mappings; nothing otherwise."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, Mapping):
                yield index, item


@dataclass(frozen=True, slots=True)
class Container:
    """One container of a pod spec; ``path`` is its field path (``spec.containers[0]``)."""

    body: Mapping[str, Any]
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class PodSpec:
    """The pod spec of one workload manifest and the field path it sits at.

    ``found_by`` says how it was found (``"kind"`` here; custom resources are found by
    :mod:`sealbox.audit.custom_workloads`). ``listed`` holds the containers of a template that
    keeps them elsewhere than a pod spec's container lists (an Argo template's ``container``, a
    SparkApplication's ``driver``); ``body`` then holds the pod-level fields gathered for it.
    ``own_account`` is False for templates whose pods run as another object's ServiceAccount
    (a KServe ServingRuntime runs as the InferenceService's): their token is judged there.
    """

    manifest: Manifest
    body: Mapping[str, Any]
    path: str
    found_by: str = "kind"
    listed: tuple[Container, ...] | None = None
    own_account: bool = True

    def containers(self) -> Iterator[Container]:
        """Init containers, containers and ephemeral containers, in that order."""
        if self.listed is not None:
            yield from self.listed
            return
        for field_name in CONTAINER_FIELDS:
            for index, body in mappings(self.body.get(field_name)):
                name = body.get("name")
                label = str(name) if isinstance(name, str) and name else f"#{index}"
                yield Container(body, label, f"{self.path}.{field_name}[{index}]")

    @property
    def service_account(self) -> str:
        """``serviceAccountName`` (or the deprecated ``serviceAccount``); ``default`` if unset."""
        for key in ("serviceAccountName", "serviceAccount"):
            value = self.body.get(key)
            if isinstance(value, str) and value:
                return value
        return "default"

    @property
    def has_fs_group(self) -> bool:
        """True when ``securityContext.fsGroup`` is set (mounted files then belong to it)."""
        fs_group = as_mapping(self.body.get("securityContext")).get("fsGroup")
        return isinstance(fs_group, int) and not isinstance(fs_group, bool)

    def secret_volumes(self) -> dict[str, tuple[str, ...]]:
        """Volume name -> names of the Secrets it projects (``secret`` and ``projected``)."""
        found: dict[str, tuple[str, ...]] = {}
        for _, volume in mappings(self.body.get("volumes")):
            name = volume.get("name")
            if not isinstance(name, str):
                continue
            secrets = [_secret_name(volume.get("secret"), "secretName")]
            projected = as_mapping(volume.get("projected"))
            for _, source in mappings(projected.get("sources")):
                secrets.append(_secret_name(source.get("secret"), "name"))
            names = tuple(s for s in secrets if s is not None)
            if names:
                found[name] = names
        return found


def _secret_name(source: object, field_name: str) -> str | None:
    if not isinstance(source, Mapping):
        return None
    name = source.get(field_name)
    return name if isinstance(name, str) and name else UNNAMED


def pod_spec(manifest: Manifest) -> PodSpec | None:
    """The pod spec of a workload manifest, or None for other kinds and malformed objects."""
    path = _POD_SPEC_PATHS.get(manifest.kind)
    if path is None:
        return None
    node: object = manifest.body
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    if not isinstance(node, Mapping):
        return None
    return PodSpec(manifest, node, ".".join(path))
