"""Custom resources whose pods are not written as pod specs, adapted into one.

An Argo workflow template's ``container``/``script``/``containerSet``, a SparkApplication's
``driver`` and ``executor`` and a KServe InferenceService component's model server
(``predictor.model``, ``predictor.sklearn``, ...) carry a pod's containers, volumes and service
account in fields of their own. Each adapter here assembles the :class:`PodSpec` such a pod would
have, placed at the template's line so findings point at it; :mod:`sealbox.audit.custom_workloads`
looks adapters up in :data:`ADAPTERS` by API group and kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sealbox.audit.model import Manifest
from sealbox.audit.podspec import Container, PodSpec, as_mapping, mappings
from sealbox.yamldoc import YamlMapping

__all__ = ["ADAPTERS", "BY_ADAPTER", "BY_PATH", "has_containers"]

BY_PATH = "known path"
BY_ADAPTER = "known path (adapted)"

_KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
# KServe's model-server fields: each is one container's fields, run as "kserve-container".
_KSERVE_MODELS = (
    "model",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "lightgbm",
    "paddle",
    "pmml",
    "art",
    "alibi",
)


def has_containers(node: Mapping[str, Any]) -> bool:
    return any(True for _ in mappings(node.get("containers")))


def _pod_body(line: int, **fields: object) -> YamlMapping:
    """A pod spec assembled from an adapted template, placed at ``line`` for findings."""
    body = YamlMapping(line)
    body.update({key: value for key, value in fields.items() if value is not None})
    return body


def _line(node: object) -> int:
    return node.line if isinstance(node, YamlMapping) else 0


def _argo(manifest: Manifest, spec: Mapping[str, Any], path: str) -> list[PodSpec]:
    """Each Argo template that runs a pod: its containers, the workflow's volumes and account.

    Account and automount come from the template, else from the workflow spec; the pod spec is
    placed where they are set, so the token finding of a workflow is one finding, not one per
    template.
    """
    found = []
    shared = spec.get("volumes")
    for index, template in mappings(spec.get("templates")):
        where = f"{path}.templates[{index}]"
        listed: list[Container] = []
        for key in ("container", "script"):
            body = template.get(key)
            if isinstance(body, Mapping):
                listed.append(_container(body, "main", f"{where}.{key}"))
        container_set = as_mapping(template.get("containerSet"))
        for i, body in mappings(container_set.get("containers")):
            listed.append(_container(body, f"#{i}", f"{where}.containerSet.containers[{i}]"))
        if not listed:
            continue  # steps, dag, resource, suspend, http: no pod of the user's
        for i, body in mappings(template.get("sidecars")):
            listed.append(_container(body, f"#{i}", f"{where}.sidecars[{i}]"))
        init = [
            _container(body, f"#{i}", f"{where}.initContainers[{i}]")
            for i, body in mappings(template.get("initContainers"))
        ]
        own = "serviceAccountName" in template or "automountServiceAccountToken" in template
        volumes = [*_list(shared), *_list(template.get("volumes"))]
        pod = _pod_body(
            _line(template if own else spec),
            serviceAccountName=template.get("serviceAccountName", spec.get("serviceAccountName")),
            automountServiceAccountToken=template.get(
                "automountServiceAccountToken", spec.get("automountServiceAccountToken")
            ),
            securityContext=template.get("securityContext", spec.get("securityContext")),
            volumes=volumes,
        )
        found.append(PodSpec(manifest, pod, where, found_by=BY_ADAPTER, listed=(*init, *listed)))
    return found


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _container(body: Mapping[str, Any], fallback: str, path: str) -> Container:
    name = body.get("name")
    return Container(body, name if isinstance(name, str) and name else fallback, path)


def _argo_workflow(manifest: Manifest) -> list[PodSpec]:
    return _argo(manifest, as_mapping(manifest.body.get("spec")), "spec")


def _argo_cron(manifest: Manifest) -> list[PodSpec]:
    spec = as_mapping(as_mapping(manifest.body.get("spec")).get("workflowSpec"))
    return _argo(manifest, spec, "spec.workflowSpec")


def _spark(manifest: Manifest, spec: Mapping[str, Any], path: str) -> list[PodSpec]:
    """The driver and executor pods of a SparkApplication (its ``spec`` is at ``path``).

    Their container fields (``env``, ``envFrom``, ``volumeMounts``) sit on ``driver`` and
    ``executor`` themselves; the deprecated ``envSecretKeyRefs`` and ``envVars`` maps become
    env entries. Executors run as ``default`` unless ``executor.serviceAccount`` says otherwise.
    """
    found = []
    for role, name in (("driver", "spark-kubernetes-driver"), ("executor", "executor")):
        settings = spec.get(role)
        if not isinstance(settings, Mapping):
            continue
        where = f"{path}.{role}"
        main = _container(_spark_container(settings), name, where)
        listed = [main]
        listed += [
            _container(body, f"#{i}", f"{where}.sidecars[{i}]")
            for i, body in mappings(settings.get("sidecars"))
        ]
        init = [
            _container(body, f"#{i}", f"{where}.initContainers[{i}]")
            for i, body in mappings(settings.get("initContainers"))
        ]
        pod = _pod_body(
            _line(settings),
            serviceAccountName=settings.get("serviceAccount"),
            securityContext=settings.get("podSecurityContext"),
            volumes=spec.get("volumes"),
        )
        found.append(PodSpec(manifest, pod, where, found_by=BY_ADAPTER, listed=(*init, *listed)))
    return found


def _spark_container(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    refs = as_mapping(settings.get("envSecretKeyRefs"))
    values = as_mapping(settings.get("envVars"))
    if not refs and not values:
        return settings
    env = list(_list(settings.get("env")))
    for var, ref in refs.items():
        entry = _pod_body(_line(ref) or _line(refs), name=var)
        entry["valueFrom"] = {"secretKeyRef": ref}
        env.append(entry)
    for var, value in values.items():
        env.append(_pod_body(_line(values), name=var, value=value))
    body = _pod_body(_line(settings))
    body.update(settings)
    body["env"] = env
    return body


def _spark_application(manifest: Manifest) -> list[PodSpec]:
    return _spark(manifest, as_mapping(manifest.body.get("spec")), "spec")


def _scheduled_spark(manifest: Manifest) -> list[PodSpec]:
    spec = as_mapping(as_mapping(manifest.body.get("spec")).get("template"))
    return _spark(manifest, spec, "spec.template")


def _kserve(manifest: Manifest) -> list[PodSpec]:
    """Each InferenceService component: its own containers and its model server container."""
    found = []
    spec = as_mapping(manifest.body.get("spec"))
    for component in _KSERVE_COMPONENTS:
        body = spec.get(component)
        if not isinstance(body, Mapping):
            continue
        where = f"spec.{component}"
        models = [
            _container(body[key], "kserve-container", f"{where}.{key}")
            for key in _KSERVE_MODELS
            if isinstance(body.get(key), Mapping)
        ]
        if not models:
            if has_containers(body):
                found.append(PodSpec(manifest, body, where, found_by=BY_PATH))
            continue
        plain = PodSpec(manifest, body, where)
        listed = (*models, *plain.containers())
        found.append(PodSpec(manifest, body, where, found_by=BY_ADAPTER, listed=listed))
    return found


ADAPTERS: dict[tuple[str, str], Callable[[Manifest], list[PodSpec]]] = {
    ("argoproj.io", "Workflow"): _argo_workflow,
    ("argoproj.io", "WorkflowTemplate"): _argo_workflow,
    ("argoproj.io", "ClusterWorkflowTemplate"): _argo_workflow,
    ("argoproj.io", "CronWorkflow"): _argo_cron,
    ("sparkoperator.k8s.io", "SparkApplication"): _spark_application,
    ("sparkoperator.k8s.io", "ScheduledSparkApplication"): _scheduled_spark,
    ("serving.kserve.io", "InferenceService"): _kserve,
}
