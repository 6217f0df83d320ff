"""Pod specs inside custom resources: known paths, adapted templates, shapes, and the report.

The corpus (``corpus/workloads/crd-*.yaml``) checks the findings end to end; these cases pin
where pod specs are found, what is *not* taken for one, and how the loader and the report
account for the kinds audited this way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.audit.checks import workloads
from sealbox.audit.custom_workloads import (
    BY_ADAPTER,
    BY_PATH,
    BY_SHAPE,
    KNOWN_PATHS,
    MAX_DEPTH,
    pod_specs,
)
from sealbox.audit.engine import AuditOptions, run_audit
from sealbox.audit.loader import KNOWN_KINDS, load_text
from sealbox.audit.model import Finding, Manifest

_CONTAINER = {"name": "app", "image": "registry.example/app:1"}
_POD = {"automountServiceAccountToken": False, "containers": [_CONTAINER]}


def _manifest(api_version: str, kind: str, body: dict[str, Any]) -> Manifest:
    document = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, **body}
    result = load_text(yaml.safe_dump(document), "inline.yaml")
    assert not result.problems
    (manifest,) = result.manifests
    return manifest


def _findings(text: str) -> list[Finding]:
    return list(workloads.check(load_text(text, "inline.yaml").manifests))


def _template(path: str) -> dict[str, Any]:
    """A body with ``_POD`` at ``path`` (``[*]`` makes a one-item list, ``*`` a key ``Worker``)."""
    node: Any = _POD
    for step in reversed(path.replace("[*]", ".[*]").split(".")):
        node = [node] if step == "[*]" else {"Worker" if step == "*" else step: node}
    assert isinstance(node, dict)
    return node


def _concrete(path: str) -> str:
    return path.replace("[*]", "[0]").replace(".*.", ".Worker.")


@pytest.mark.parametrize(
    ("group", "kind", "path"),
    [(group, kind, path) for (group, kind), paths in KNOWN_PATHS.items() for path in paths],
)
def test_every_known_path_is_found(group: str, kind: str, path: str) -> None:
    manifest = _manifest(f"{group}/v1", kind, _template(path))
    found = pod_specs(manifest, known=KNOWN_KINDS)
    assert [(spec.path, spec.found_by) for spec in found] == [(_concrete(path), BY_PATH)]
    assert [c.path for c in found[0].containers()] == [f"{_concrete(path)}.containers[0]"]


def test_kinds_are_matched_with_their_group() -> None:
    knative = _manifest("serving.knative.dev/v1", "Service", {"spec": {"template": {"spec": _POD}}})
    assert [s.path for s in pod_specs(knative)] == ["spec.template.spec"]
    core = _manifest("v1", "Service", {"spec": {"template": {"spec": _POD}}})
    assert pod_specs(core) == ()
    volcano = _manifest(
        "batch.volcano.sh/v1alpha1", "Job", _template("spec.tasks[*].template.spec")
    )
    assert [s.path for s in pod_specs(volcano)] == ["spec.tasks[0].template.spec"]
    batch = _manifest("batch/v1", "Job", {"spec": {"template": {"spec": _POD}}})
    assert [(s.path, s.found_by) for s in pod_specs(batch)] == [("spec.template.spec", "kind")]


def test_a_known_kind_whose_fields_moved_falls_back_to_the_shape() -> None:
    rollout = _manifest("argoproj.io/v1alpha1", "Rollout", {"spec": {"workload": {"spec": _POD}}})
    assert [(s.path, s.found_by) for s in pod_specs(rollout)] == [("spec.workload.spec", BY_SHAPE)]


# --- adapted templates ----------------------------------------------------------------------

ARGO = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: wt, namespace: ci}
spec:
  serviceAccountName: runner
  automountServiceAccountToken: false
  volumes:
    - name: creds
      secret: {secretName: creds}
  templates:
    - name: main
      dag:
        tasks: [{name: a, template: build}]
    - name: build
      serviceAccountName: builder
      container:
        image: registry.example/build:1
        envFrom: [{secretRef: {name: registry}}]
      sidecars:
        - {name: dind, image: docker:27-dind}
      initContainers:
        - {name: fetch, image: registry.example/fetch:1}
    - name: notify
      script: {image: python:3.12, source: "print(1)"}
"""


def test_argo_templates_become_pods_with_the_workflow_settings() -> None:
    (manifest,) = load_text(ARGO, "inline.yaml").manifests
    build, notify = pod_specs(manifest)
    assert {build.found_by, notify.found_by} == {BY_ADAPTER}
    assert [(c.name, c.path) for c in build.containers()] == [
        ("fetch", "spec.templates[1].initContainers[0]"),
        ("main", "spec.templates[1].container"),
        ("dind", "spec.templates[1].sidecars[0]"),
    ]
    assert build.service_account == "builder"  # the template's own
    assert notify.service_account == "runner"  # the workflow's
    assert notify.body["automountServiceAccountToken"] is False
    assert build.secret_volumes() == {"creds": ("creds",)}


def test_shared_volumes_are_reported_once_per_object() -> None:
    findings = _findings(ARGO)
    modes = [f for f in findings if f.control.id == "SBX-104"]
    assert len(modes) == 1
    assert [f.control.id for f in findings if f.control.id == "SBX-101"] == ["SBX-101"]


SPARK = """\
apiVersion: sparkoperator.k8s.io/v1beta2
kind: ScheduledSparkApplication
metadata: {name: nightly, namespace: data}
spec:
  schedule: "@daily"
  template:
    driver:
      serviceAccount: spark
      envVars: {LOG_LEVEL: info}
      envSecretKeyRefs:
        DB_PASSWORD: {name: db, key: password}
      sidecars:
        - {name: proxy, image: registry.example/proxy:1}
    executor:
      instances: 2
"""


def test_spark_driver_and_executor_are_pods() -> None:
    (manifest,) = load_text(SPARK, "inline.yaml").manifests
    driver, executor = pod_specs(manifest)
    assert (driver.path, executor.path) == ("spec.template.driver", "spec.template.executor")
    assert [c.name for c in driver.containers()] == ["spark-kubernetes-driver", "proxy"]
    assert driver.service_account == "spark"
    assert executor.service_account == "default"
    env = next(driver.containers()).body["env"]
    assert [entry["name"] for entry in env] == ["DB_PASSWORD", "LOG_LEVEL"]
    secret_env = [f for f in _findings(SPARK) if f.control.id == "SBX-101"]
    assert [(f.location.line, f.details["env"]) for f in secret_env] == [(11, "DB_PASSWORD")]


def test_kserve_model_server_is_a_container_and_runtimes_borrow_the_account() -> None:
    service = _manifest(
        "serving.kserve.io/v1beta1",
        "InferenceService",
        {"spec": {"predictor": {"sklearn": {"storageUri": "s3://m"}, "containers": [_CONTAINER]}}},
    )
    (predictor,) = pod_specs(service)
    assert [(c.name, c.path) for c in predictor.containers()] == [
        ("kserve-container", "spec.predictor.sklearn"),
        ("app", "spec.predictor.containers[0]"),
    ]
    runtime = _manifest(
        "serving.kserve.io/v1alpha1", "ServingRuntime", {"spec": {"containers": [_CONTAINER]}}
    )
    (spec,) = pod_specs(runtime)
    assert spec.own_account is False
    text = yaml.safe_dump(
        {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime"}
        | {"metadata": {"name": "r", "namespace": "s"}, "spec": {"containers": [_CONTAINER]}}
    )
    assert _findings(text) == []  # no SBX-107: the InferenceService's account runs it


# --- shapes ---------------------------------------------------------------------------------


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = _POD
    for level in range(depth):
        node = {f"level{level}": node}
    return node


def test_shapes_are_found_up_to_the_depth_limit() -> None:
    found = pod_specs(_manifest("example.com/v1", "Thing", _nested(MAX_DEPTH)))
    assert [(s.found_by, s.path.count(".") + 1) for s in found] == [(BY_SHAPE, MAX_DEPTH)]
    assert pod_specs(_manifest("example.com/v1", "Thing", _nested(MAX_DEPTH + 1))) == ()


@pytest.mark.parametrize(
    "containers",
    [
        [{"name": "*", "image": "!*:latest"}],  # a Kyverno pattern
        [{"name": "a", "image": "registry.example/a:1"}, {"name": "b"}],  # one without image
        [{"image": "registry.example/a:1"}],  # no name
        [],
        ["registry.example/a:1"],
    ],
)
def test_things_that_are_not_pod_specs(containers: list[Any]) -> None:
    body = {"spec": {"pattern": {"containers": containers}}}
    assert pod_specs(_manifest("kyverno.io/v1", "ClusterPolicy", body)) == ()


def test_shapes_are_only_searched_in_unknown_custom_resources() -> None:
    deep = {"spec": {"x": {"spec": _POD}}}
    assert pod_specs(_manifest("apps/v1", "Deploymnet", deep)) == ()  # a typo stays visible
    sealed = _manifest("bitnami.com/v1alpha1", "SealedSecret", deep)
    assert pod_specs(sealed, known=KNOWN_KINDS) == ()
    status = _manifest("example.com/v1", "Thing", {"status": {"lastPod": _POD}})
    assert pod_specs(status) == ()


_KEYS = ["spec", "containers", "template", "name", "image", "env", "volumes", "templates"]
_KEYS += ["container", "driver", "executor", "predictor", "model", "workflowSpec", "sidecars"]
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner),
    max_leaves=25,
)
_KINDS = [*KNOWN_PATHS, ("argoproj.io", "Workflow"), ("argoproj.io", "CronWorkflow")]
_KINDS += [("sparkoperator.k8s.io", "SparkApplication"), ("serving.kserve.io", "InferenceService")]
_KINDS += [("example.com", "Anything")]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_KINDS), st.dictionaries(st.sampled_from(_KEYS), _TREE, max_size=4))
def test_arbitrary_custom_resources_never_crash(
    kind: tuple[str, str], body: dict[str, Any]
) -> None:
    text = yaml.safe_dump({"apiVersion": f"{kind[0]}/v1", "kind": kind[1], "metadata": {}})
    text += yaml.safe_dump(body)
    for finding in workloads.check(load_text(text, "inline.yaml").manifests):
        assert finding.control in workloads.CONTROLS


# --- the loader and the report --------------------------------------------------------------


def test_custom_resources_with_pod_specs_are_audited_not_listed_as_not_audited(
    tmp_path: Path,
) -> None:
    documents = [
        {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "r"}}
        | _template("spec.headGroupSpec.template.spec"),
        {"apiVersion": "example.com/v1", "kind": "Runner", "metadata": {"name": "a"}}
        | {"spec": {"pod": _POD}},
        {"apiVersion": "example.com/v1", "kind": "Runner", "metadata": {"name": "b"}}
        | {"spec": {"pod": _POD}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        | {"spec": {"size": 3}},
    ]
    (tmp_path / "all.yaml").write_text(yaml.safe_dump_all(documents))
    report = run_audit(AuditOptions(paths=(str(tmp_path),)))
    assert report.objects == 3
    assert [entry.kind for entry in report.not_audited] == ["Widget"]
    assert report.sections["customWorkloads"] == [
        {"kind": "RayCluster", "apiGroup": "ray.io", "objects": 1, "podSpecs": 1}
        | {"foundBy": BY_PATH},
        {"kind": "Runner", "apiGroup": "example.com", "objects": 2, "podSpecs": 2}
        | {"foundBy": BY_SHAPE},
    ]


def test_no_section_without_custom_workloads(tmp_path: Path) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": _POD}
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    report = run_audit(AuditOptions(paths=(str(tmp_path),)))
    assert "customWorkloads" not in report.sections
