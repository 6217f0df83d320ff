"""SBX-108: a pod that automounts the token of a service account that can read Secrets.

Each case is a small input with real RBAC objects; the RBAC analysis decides who reads Secrets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sealbox.audit.checks import RbacSettings, workloads
from sealbox.audit.checks._token_readers import TokenReaders
from sealbox.audit.loader import load_paths, load_text
from sealbox.audit.model import Finding

READER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reads-secrets}
rules:
  - {apiGroups: [""], resources: [secrets], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reads-secrets}
subjects:
  - {kind: ServiceAccount, name: %(account)s, namespace: apps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reads-secrets}
---
"""


def _pod(spec: str, *, name: str = "p") -> str:
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: apps}}\nspec:\n"
        f"{spec}  containers: [{{name: c, image: registry.example/c:1}}]\n"
    )


def _account(name: str, automount: bool | None) -> str:
    setting = (
        "" if automount is None else f"automountServiceAccountToken: {str(automount).lower()}\n"
    )
    return (
        f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: apps}}\n"
        f"{setting}---\n"
    )


def _token_findings(text: str, settings: RbacSettings | None = None) -> list[Finding]:
    found = workloads.check(load_text(text, "inline.yaml").manifests, settings)
    return [f for f in found if f.control.id in ("SBX-107", "SBX-108")]


@pytest.mark.parametrize(
    ("account_setting", "pod_setting", "expected"),
    [
        (None, None, ["SBX-108"]),
        (None, True, ["SBX-108"]),
        (None, False, []),
        (False, None, []),
        (False, True, ["SBX-108"]),  # the pod wins
        (True, False, []),  # the pod wins
        (True, None, ["SBX-108"]),
    ],
)
def test_the_pod_setting_wins_over_the_service_account(
    account_setting: bool | None, pod_setting: bool | None, expected: list[str]
) -> None:
    spec = "  serviceAccountName: syncer\n"
    if pod_setting is not None:
        spec += f"  automountServiceAccountToken: {str(pod_setting).lower()}\n"
    text = READER_ROLE % {"account": "syncer"} + _account("syncer", account_setting) + _pod(spec)
    assert [f.control.id for f in _token_findings(text)] == expected


def test_the_finding_names_the_account_the_access_and_the_binding() -> None:
    text = READER_ROLE % {"account": "syncer"} + _pod("  serviceAccountName: syncer\n")
    (finding,) = _token_findings(text)
    assert finding.message == (
        "pod mounts the API token of ServiceAccount 'apps/syncer', which can list Secrets in "
        "every namespace (ClusterRoleBinding reads-secrets -> ClusterRole reads-secrets): each "
        "of its 1 container(s) holds a Secret-reading credential"
    )
    assert finding.location.line == 18  # the pod spec mapping, under spec:
    assert finding.details["access"] == {
        "family": "list",
        "how": "list Secrets in every namespace",
        "scope": "*",
        "binding": "ClusterRoleBinding reads-secrets",
        "role": "ClusterRole reads-secrets",
    }


def test_a_default_account_that_reads_secrets_raises_sbx_108_not_sbx_107() -> None:
    text = READER_ROLE % {"account": "default"} + _pod("")
    assert [f.control.id for f in _token_findings(text)] == ["SBX-108"]
    plain = READER_ROLE % {"account": "someone-else"} + _pod("")
    assert [f.control.id for f in _token_findings(plain)] == ["SBX-107"]


def test_an_account_that_reads_no_secret_is_left_to_sbx_107() -> None:
    text = (READER_ROLE % {"account": "syncer"}).replace("secrets]", "configmaps]")
    assert _token_findings(text + _pod("  serviceAccountName: syncer\n")) == []  # bound


def test_allowed_subjects_are_not_reported() -> None:
    text = READER_ROLE % {"account": "syncer"} + _pod("  serviceAccountName: syncer\n")
    allowed = RbacSettings(allowed_subjects=("ServiceAccount:apps/sync*",))
    assert _token_findings(text, allowed) == []


def test_nothing_is_analysed_without_a_binding() -> None:
    manifests = load_text(_pod("  serviceAccountName: syncer\n"), "inline.yaml").manifests
    readers = TokenReaders(manifests, RbacSettings())
    assert readers.reach(manifests[0], "syncer") is None
    assert readers._clusters() is None  # no cluster split, no RBAC analysis


def test_a_kustomization_namespace_places_the_pod_and_the_subject(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "namespace: ops\nresources: [rbac.yaml, pod.yaml]\n"
    )
    (tmp_path / "rbac.yaml").write_text(
        (READER_ROLE % {"account": "agent"}).replace(", namespace: apps}", "}")
    )
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: system}\nspec:\n"
        "  serviceAccountName: agent\n  containers: [{name: c, image: registry.example/c:1}]\n"
    )
    manifests = load_paths([str(tmp_path)]).manifests
    settings = RbacSettings(scan_roots=(str(tmp_path),))
    found = [f for f in workloads.check(manifests, settings) if f.control.id == "SBX-108"]
    # kustomize writes ops over the manifest's namespace: system, as the subject's
    assert [f.details["namespace"] for f in found] == ["ops"]
