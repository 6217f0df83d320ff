"""Pod specs inside custom resources: Argo, Ray, JobSet, Kubeflow, Spark, Knative, KServe, ...

Operators start pods from templates kept in their own kinds, and those templates carry the same
env, volumes and service accounts as a Deployment's. :func:`pod_specs` finds every pod spec of
any object in three ways, cheapest first:

1. **by kind**, for the built-in workload kinds (:func:`sealbox.audit.podspec.pod_spec`);
2. **known paths**, a table of the common custom resources (keyed by API group and kind, since
   Knative's ``Service`` and Volcano's ``Job`` reuse built-in names), including the kinds whose
   templates are not pod specs at all and are *adapted* into one: an Argo workflow template's
   ``container``/``script``/``containerSet``, a SparkApplication's ``driver`` and ``executor``,
   and a KServe component's model server (``predictor.model``, ``predictor.sklearn``, ...):
   :mod:`sealbox.audit.pod_adapters`;
3. **shape**, for other custom resources: a mapping whose ``containers`` is a non-empty list of
   mappings that each have a string ``name`` and ``image``, searched to :data:`MAX_DEPTH`
   levels below the object (``metadata`` and ``status`` are skipped, and a pod spec is not
   searched further). Images with glob characters (``*``, ``?``, ``!``) are policy patterns
   (Kyverno), not pods, and do not match.

Shapes are only searched in objects of an API group with a dot (a custom resource) whose kind is
not one the audit already knows, so big repositories of built-in kinds pay nothing, and a typo in
a built-in kind is still reported as not audited by the loader.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from sealbox.audit.model import Manifest
from sealbox.audit.pod_adapters import ADAPTERS, BY_ADAPTER, BY_PATH, has_containers
from sealbox.audit.podspec import PodSpec, as_mapping, mappings, pod_spec

__all__ = [
    "BY_ADAPTER",
    "BY_KIND",
    "BY_PATH",
    "BY_SHAPE",
    "KNOWN_PATHS",
    "MAX_DEPTH",
    "custom_workloads",
    "pod_specs",
]

BY_KIND = "kind"
BY_SHAPE = "shape"
MAX_DEPTH = 8

# (API group, kind) -> where its pod specs are. ``[*]`` is every item of a list, ``*`` every
# value of a mapping (Kubeflow's replica specs are keyed by role: Master, Worker, PS, ...).
KNOWN_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("argoproj.io", "Rollout"): ("spec.template.spec",),
    ("ray.io", "RayCluster"): (
        "spec.headGroupSpec.template.spec",
        "spec.workerGroupSpecs[*].template.spec",
    ),
    ("ray.io", "RayService"): (
        "spec.rayClusterConfig.headGroupSpec.template.spec",
        "spec.rayClusterConfig.workerGroupSpecs[*].template.spec",
    ),
    ("ray.io", "RayJob"): (
        "spec.rayClusterSpec.headGroupSpec.template.spec",
        "spec.rayClusterSpec.workerGroupSpecs[*].template.spec",
        "spec.submitterPodTemplate.spec",
    ),
    ("jobset.x-k8s.io", "JobSet"): ("spec.replicatedJobs[*].template.spec.template.spec",),
    ("leaderworkerset.x-k8s.io", "LeaderWorkerSet"): (
        "spec.leaderWorkerTemplate.leaderTemplate.spec",
        "spec.leaderWorkerTemplate.workerTemplate.spec",
    ),
    ("kubeflow.org", "PyTorchJob"): ("spec.pytorchReplicaSpecs.*.template.spec",),
    ("kubeflow.org", "TFJob"): ("spec.tfReplicaSpecs.*.template.spec",),
    ("kubeflow.org", "MPIJob"): ("spec.mpiReplicaSpecs.*.template.spec",),
    ("kubeflow.org", "XGBoostJob"): ("spec.xgbReplicaSpecs.*.template.spec",),
    ("kubeflow.org", "PaddleJob"): ("spec.paddleReplicaSpecs.*.template.spec",),
    ("kubeflow.org", "Notebook"): ("spec.template.spec",),
    ("serving.knative.dev", "Service"): ("spec.template.spec",),
    ("serving.knative.dev", "Configuration"): ("spec.template.spec",),
    ("serving.knative.dev", "Revision"): ("spec",),
    ("serving.kserve.io", "ServingRuntime"): ("spec",),
    ("serving.kserve.io", "ClusterServingRuntime"): ("spec",),
    ("batch.volcano.sh", "Job"): ("spec.tasks[*].template.spec",),
    ("apps.openshift.io", "DeploymentConfig"): ("spec.template.spec",),
    ("apps.kruise.io", "CloneSet"): ("spec.template.spec",),
    ("apps.kruise.io", "StatefulSet"): ("spec.template.spec",),
    ("apps.kruise.io", "DaemonSet"): ("spec.template.spec",),
}
# Runtimes whose pods run as the ServiceAccount of the object that uses them.
_BORROWED_ACCOUNT = frozenset(
    {("serving.kserve.io", "ServingRuntime"), ("serving.kserve.io", "ClusterServingRuntime")}
)
_GLOB = re.compile(r"[*?!|\s]")
_SKIPPED_TOP = frozenset({"metadata", "status"})


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _steps(path: str) -> tuple[str, ...]:
    return tuple(path.replace("[*]", ".[*]").split("."))


_PARSED = {key: tuple(_steps(p) for p in paths) for key, paths in KNOWN_PATHS.items()}


def _follow(node: object, steps: tuple[str, ...], path: str) -> Iterator[tuple[object, str]]:
    """The nodes at ``steps`` below ``node`` with their field paths (wildcards fan out)."""
    if not steps:
        yield node, path
        return
    step, rest = steps[0], steps[1:]
    if step == "[*]":
        for index, item in mappings(node):
            yield from _follow(item, rest, f"{path}[{index}]")
    elif step == "*":
        for key, value in as_mapping(node).items():
            yield from _follow(value, rest, f"{path}.{key}")
    elif isinstance(node, Mapping) and step in node:
        yield from _follow(node[step], rest, f"{path}.{step}" if path else step)


def _at_paths(
    manifest: Manifest, paths: tuple[tuple[str, ...], ...], *, own_account: bool
) -> list[PodSpec]:
    found = []
    for steps in paths:
        for node, path in _follow(manifest.body, steps, ""):
            if isinstance(node, Mapping) and has_containers(node):
                spec = PodSpec(manifest, node, path, found_by=BY_PATH, own_account=own_account)
                found.append(spec)
    return found


_TABLE_KINDS = frozenset(kind for _, kind in (*KNOWN_PATHS, *ADAPTERS))


# -- shape -------------------------------------------------------------------------------------


def _is_pod_spec(node: Mapping[str, Any]) -> bool:
    containers = node.get("containers")
    if not isinstance(containers, list) or not containers:
        return False
    for item in containers:
        if not isinstance(item, Mapping):
            return False
        name, image = item.get("name"), item.get("image")
        if not isinstance(name, str) or not isinstance(image, str) or not image:
            return False
        if _GLOB.search(image):
            return False
    return True


def _by_shape(manifest: Manifest) -> list[PodSpec]:
    found: list[PodSpec] = []

    def walk(node: object, path: str, depth: int) -> None:
        if isinstance(node, Mapping):
            if depth and _is_pod_spec(node):
                found.append(PodSpec(manifest, node, path, found_by=BY_SHAPE))
                return
            if depth >= MAX_DEPTH:
                return
            for key, value in node.items():
                if isinstance(value, Mapping | list) and not (depth == 0 and key in _SKIPPED_TOP):
                    walk(value, f"{path}.{key}" if path else str(key), depth + 1)
        elif isinstance(node, list) and depth < MAX_DEPTH:
            for index, item in enumerate(node):
                if isinstance(item, Mapping | list):
                    walk(item, f"{path}[{index}]", depth + 1)

    walk(manifest.body, "", 0)
    return found


# -- the one entry point -----------------------------------------------------------------------


def pod_specs(manifest: Manifest, *, known: AbstractSet[str] = frozenset()) -> tuple[PodSpec, ...]:
    """Every pod spec of ``manifest``: built-in kinds, known custom resources, else by shape.

    ``known`` are kinds the audit reads for other reasons: they are not searched by shape
    (a custom resource that reuses one of their names is found only through the table).
    """
    group = _group(manifest.api_version)
    if manifest.kind in _TABLE_KINDS and "." in group:
        key = (group, manifest.kind)
        adapter = ADAPTERS.get(key)
        if adapter is not None:
            return tuple(adapter(manifest))
        paths = _PARSED.get(key)
        if paths is not None:
            own = key not in _BORROWED_ACCOUNT
            return tuple(_at_paths(manifest, paths, own_account=own) or _by_shape(manifest))
    builtin = pod_spec(manifest)
    if builtin is not None:
        return (builtin,)
    if "." not in group or manifest.kind in known:
        return ()
    return tuple(_by_shape(manifest))


def custom_workloads(
    manifests: Iterable[Manifest], *, known: AbstractSet[str] = frozenset()
) -> list[dict[str, Any]]:
    """The report's list of custom kinds whose pod specs were audited, and how they were found.

    One record per API group and kind: objects, pod specs, and ``foundBy`` (:data:`BY_PATH`,
    :data:`BY_ADAPTER` or :data:`BY_SHAPE`, several joined when objects differ).
    """
    objects: Counter[tuple[str, str]] = Counter()
    counts: Counter[tuple[str, str]] = Counter()
    how: dict[tuple[str, str], dict[str, None]] = {}
    for manifest in manifests:
        custom = [spec for spec in pod_specs(manifest, known=known) if spec.found_by != BY_KIND]
        if not custom:
            continue
        key = (_group(manifest.api_version), manifest.kind)
        objects[key] += 1
        counts[key] += len(custom)
        how.setdefault(key, {}).update(dict.fromkeys(spec.found_by for spec in custom))
    return [
        {
            "kind": kind,
            "apiGroup": group,
            "objects": objects[(group, kind)],
            "podSpecs": counts[(group, kind)],
            "foundBy": ", ".join(how[(group, kind)]),
        }
        for group, kind in sorted(objects, key=lambda k: (k[1], k[0]))
    ]
