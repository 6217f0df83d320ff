"""Workload controls SBX-101..108: unit cases per control, the corpus, and no value leaks."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.audit.checks import repo, workloads
from sealbox.audit.checks._volumes import parse_mode
from sealbox.audit.loader import load_paths, load_text
from sealbox.audit.model import Finding, Manifest, Severity
from sealbox.audit.ordering import collapse
from sealbox.audit.podspec import pod_spec
from tests.audit.markers import marker_needles

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = Path(__file__).parent / "expected" / "workloads.yaml"
MARKER = re.compile(r"s3cr3t-marker-[A-Za-z0-9-]+|AKIAMARKER[0-9]+")


def _manifests(text: str) -> list[Manifest]:
    result = load_text(text, "inline.yaml")
    assert not result.problems
    return result.manifests


def _findings(text: str, control: str | None = None) -> list[Finding]:
    found = list(workloads.check(_manifests(text)))
    return [f for f in found if control is None or f.control.id == control]


def _pod(spec: str, *, kind_header: str = "") -> str:
    """A Pod manifest around an indented pod spec body (automount off unless the spec says)."""
    header = kind_header or "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\n"
    body = (
        spec
        if "automountServiceAccountToken" in spec
        else ("  automountServiceAccountToken: false\n" + spec)
    )
    return header + "spec:\n" + body


def _container(lines: str) -> str:
    indented = "".join(f"      {line}\n" for line in lines.strip("\n").splitlines())
    return _pod("  containers:\n    - name: app\n      image: x\n" + indented)


# --- controls catalogue ---------------------------------------------------------------------


def test_controls_are_complete_and_in_area_one() -> None:
    ids = [control.id for control in workloads.CONTROLS]
    assert ids == sorted(ids) == [f"SBX-10{n}" for n in range(1, 9)]
    for control in workloads.CONTROLS:
        assert control.area == "workloads"
        assert control.title
        assert control.rationale
        assert control.remediation
    by_id = {control.id: control for control in workloads.CONTROLS}
    assert "kubescape C-0207" in by_id["SBX-101"].mappings
    assert "checkov CKV_K8S_38" in by_id["SBX-107"].mappings
    assert by_id["SBX-105"].severity is Severity.INFO


# --- pod specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "wrapper", "path"),
    [
        ("Pod", "spec: {S}", "spec"),
        ("Deployment", "spec: {template: {spec: {S}}}", "spec.template.spec"),
        ("StatefulSet", "spec: {template: {spec: {S}}}", "spec.template.spec"),
        ("DaemonSet", "spec: {template: {spec: {S}}}", "spec.template.spec"),
        ("ReplicaSet", "spec: {template: {spec: {S}}}", "spec.template.spec"),
        ("ReplicationController", "spec: {template: {spec: {S}}}", "spec.template.spec"),
        ("Job", "spec: {template: {spec: {S}}}", "spec.template.spec"),
        (
            "CronJob",
            "spec: {jobTemplate: {spec: {template: {spec: {S}}}}}",
            "spec.jobTemplate.spec.template.spec",
        ),
        ("PodTemplate", "template: {spec: {S}}", "template.spec"),
    ],
)
def test_pod_spec_is_found_in_every_workload_kind(kind: str, wrapper: str, path: str) -> None:
    spec = "containers: [{name: c, image: x}]"
    text = f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: w}}\n{wrapper.replace('S', spec)}\n"
    (manifest,) = _manifests(text)
    pod = pod_spec(manifest)
    assert pod is not None
    assert pod.path == path
    assert [c.path for c in pod.containers()] == [f"{path}.containers[0]"]


@pytest.mark.parametrize(
    "body",
    [
        "spec: []",
        "spec: {template: 3}",
        "spec: {template: {spec: null}}",
        "spec: {template: {spec: {containers: {a: b}, volumes: 7, initContainers: [1, x]}}}",
    ],
)
def test_malformed_workloads_yield_nothing_and_do_not_crash(body: str) -> None:
    text = f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\n{body}\n"
    findings = list(workloads.check(_manifests(text)))
    assert {f.control.id for f in findings} <= {"SBX-107"}


def test_non_workloads_have_no_pod_spec() -> None:
    (manifest,) = _manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert pod_spec(manifest) is None


# --- SBX-101 secret in env ------------------------------------------------------------------


def test_secret_key_ref_and_env_from_secret_ref_are_reported_per_reference() -> None:
    text = _container(
        """
env:
  - name: DB_PASSWORD
    valueFrom: {secretKeyRef: {name: db, key: password}}
  - name: REGION
    valueFrom: {configMapKeyRef: {name: cfg, key: region}}
envFrom:
  - secretRef: {name: api}
  - configMapRef: {name: cfg}
"""
    )
    findings = _findings(text, "SBX-101")
    assert [dict(f.details) for f in findings] == [
        {
            "container": "app",
            "field": "spec.containers[0].env[0].valueFrom.secretKeyRef",
            "env": "DB_PASSWORD",
            "secret": "db",
            "key": "password",
        },
        {"container": "app", "field": "spec.containers[0].envFrom[0]", "secret": "api"},
    ]
    assert findings[0].location.line == 10  # the env entry, not the container
    assert "'DB_PASSWORD'" in findings[0].message
    assert "'db'" in findings[0].message


# --- SBX-102 secret in the command line -----------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # secretKeyRef, used twice: one finding
        (
            'args: ["$(PW)", "--again=$(PW)"]\n'
            "env: [{name: PW, valueFrom: {secretKeyRef: {name: s, key: k}}}]",
            ["PW"],
        ),
        # $$ escapes the expansion
        (
            'command: ["echo", "$$(PW)"]\nenv: [{name: PW, valueFrom: {secretKeyRef: {name: s}}}]',
            [],
        ),
        # a plain env value shadows envFrom
        ('args: ["$(PW)"]\nenvFrom: [{secretRef: {name: s}}]\nenv: [{name: PW, value: x}]', []),
        # only a Secret can supply it
        ('args: ["$(ANY)"]\nenvFrom: [{secretRef: {name: s}}]', ["ANY"]),
        # the prefix does not match
        ('args: ["$(ANY)"]\nenvFrom: [{secretRef: {name: s}, prefix: S_}]', []),
        ('args: ["$(S_ANY)"]\nenvFrom: [{secretRef: {name: s}, prefix: S_}]', ["S_ANY"]),
        # a ConfigMap may supply it too: only credential-like names count
        ('args: ["$(URL)"]\nenvFrom: [{configMapRef: {name: c}}, {secretRef: {name: s}}]', []),
        (
            'args: ["$(API_TOKEN)"]\nenvFrom: [{configMapRef: {name: c}}, {secretRef: {name: s}}]',
            ["API_TOKEN"],
        ),
        # not defined anywhere
        ('args: ["$(NOPE)"]', []),
        # an env value that expands a Secret-backed variable defined before it
        (
            'args: ["$(DSN)"]\nenv: [{name: PW, valueFrom: {secretKeyRef: {name: s}}},'
            ' {name: DSN, value: "db://u:$(PW)@h"}]',
            ["DSN"],
        ),
        # ... defined after it: the kubelet does not expand it
        (
            'args: ["$(DSN)"]\nenv: [{name: DSN, value: "db://u:$(PW)@h"},'
            " {name: PW, valueFrom: {secretKeyRef: {name: s}}}]",
            [],
        ),
    ],
)
def test_command_line_expansion(lines: str, expected: list[str]) -> None:
    findings = _findings(_container(lines), "SBX-102")
    assert [f.details["env"] for f in findings] == expected


# --- SBX-103 literal credentials in env -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_TOKEN", "s3cr3t-marker-unit-1"),
        ("PGPASSWORD", "s3cr3t-marker-unit-2"),
        ("clientSecret", "s3cr3t-marker-unit-3"),
        ("AWS_SECRET_ACCESS_KEY", "s3cr3t-marker-unit-4"),
        ("SECRET_KEY_BASE", "s3cr3t-marker-unit-5"),
        ("CONFIG", "-Dapp.password=s3cr3t-marker-unit-6"),
        ("REDIS_URL", "redis://:s3cr3t-marker-unit-7@redis:6379/0"),
        ("SLACK", "xoxb-000000000000-s3cr3t-marker"),
        ("ID", "AKIAMARKER0000000003"),
    ],
)
def test_literal_credential_env_is_reported(name: str, value: str) -> None:
    findings = _findings(_container(f"env: [{{name: {name}, value: '{value}'}}]"), "SBX-103")
    assert len(findings) == 1
    assert findings[0].details["env"] == name
    assert value not in f"{findings[0]!r}{findings[0].message}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MARIADB_MASTER_ROOT_PASSWORD_FILE", "/opt/bitnami/mariadb/secrets/password"),
        ("METALLB_ML_SECRET_KEY_PATH", "/etc/ml_secret_key"),
        ("SECRET_NAME", "my-secret"),
        ("TOKEN_URL", "https://login.example/token"),
        ("TOKEN_TTL", "3600"),
        ("PASSWORD", ""),
        ("GITLAB_TOKEN", "$(GITLAB_PRIVATE_TOKEN)"),
        ("DB_PASSWORD", "${DB_PASSWORD}"),
        ("API_KEY", "{{ .Values.apiKey }}"),
        ("ENABLE_TOKEN_AUTH", "true"),
        ("PUBLIC_KEY", "ssh-ed25519 AAAAC3Nza"),
        ("ADMIN_PASSWORD_KEY", "admin-password"),
        ("existingSecret", "db"),
        ("TOKENIZER", "bert-base"),
        ("DATABASE_URL", "postgres://app:$(DB_PASSWORD)@db/app"),
        ("PASSWORD", "********"),
        ("DEFAULT_PASSWORD", "changeme"),  # a well-known placeholder, not a credential
    ],
)
def test_env_that_only_mentions_credentials_is_not_reported(name: str, value: str) -> None:
    assert _findings(_container(f"env: [{{name: {name}, value: '{value}'}}]"), "SBX-103") == []


# --- SBX-104..106 Secret volumes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        (420, 0o644),
        (256, 0o400),
        (0o440, 0o440),
        ("0o600", 0o600),
        ("0644", 0o644),
        (True, None),
        (1000, None),
        (-1, None),
        ("rw-r--r--", None),
        ("420", None),
        (None, None),
    ],
)
def test_parse_mode(raw: object, mode: int | None) -> None:
    assert parse_mode(raw) == mode


def test_yaml_octal_and_decimal_modes_mean_the_same() -> None:
    octal = _pod("  volumes: [{name: v, secret: {secretName: s, defaultMode: 0644}}]\n")
    decimal = _pod("  volumes: [{name: v, secret: {secretName: s, defaultMode: 420}}]\n")
    assert [f.details["mode"] for f in _findings(octal)] == ["0644"]
    assert [f.details["mode"] for f in _findings(decimal)] == ["0644"]


@pytest.mark.parametrize(
    ("volume", "fs_group", "modes"),
    [
        ("{secretName: s}", False, ["0644"]),
        ("{secretName: s, defaultMode: 0400}", False, []),
        ("{secretName: s, defaultMode: 0600}", False, []),
        ("{secretName: s, defaultMode: 0440}", False, ["0440"]),
        ("{secretName: s, defaultMode: 0440}", True, []),
        ("{secretName: s, defaultMode: 0444}", True, ["0444"]),
        ("{secretName: s, defaultMode: not-a-mode}", False, []),
        ("{secretName: s, items: [{key: a, path: a, mode: 0400}]}", False, []),
        ("{secretName: s, items: [{key: a, path: a}]}", False, ["0644"]),
        (
            "{secretName: s, defaultMode: 0400, items: [{key: a, path: a, mode: 0604}]}",
            False,
            ["0604"],
        ),
    ],
)
def test_secret_volume_modes(volume: str, fs_group: bool, modes: list[str]) -> None:
    context = "  securityContext: {fsGroup: 2000}\n" if fs_group else ""
    text = _pod(f"{context}  volumes: [{{name: v, secret: {volume}}}]\n")
    assert [f.details["mode"] for f in _findings(text, "SBX-104")] == modes


def test_projected_volumes_are_judged_by_their_secret_sources() -> None:
    with_secret = "projected: {sources: [{secret: {name: s}}, {configMap: {name: c}}]}"
    without = "projected: {sources: [{configMap: {name: c}}, {serviceAccountToken: {path: t}}]}"
    restricted = "projected: {defaultMode: 0400, sources: [{secret: {name: s}}]}"
    for source, count in ((with_secret, 1), (without, 0), (restricted, 0)):
        text = _pod(f"  volumes: [{{name: v, {source}}}]\n")
        assert len(_findings(text, "SBX-104")) == count, source


def test_mounts_of_secret_volumes_need_read_only_and_no_sub_path() -> None:
    text = _pod(
        """  volumes:
    - {name: s, secret: {secretName: s, defaultMode: 0400}}
    - {name: c, configMap: {name: c}}
  initContainers:
    - name: init
      volumeMounts: [{name: s, mountPath: /s, readOnly: true}]
  containers:
    - name: app
      volumeMounts:
        - {name: s, mountPath: /a}
        - {name: s, mountPath: /b/key, subPath: key, readOnly: true}
        - {name: c, mountPath: /c, subPath: c}
"""
    )
    writable = _findings(text, "SBX-105")
    sub_path = _findings(text, "SBX-106")
    assert [f.details["field"] for f in writable] == ["spec.containers[0].volumeMounts[0].readOnly"]
    assert [f.details["field"] for f in sub_path] == ["spec.containers[0].volumeMounts[1].subPath"]
    assert writable[0].severity is Severity.INFO


# --- SBX-107 service account tokens ---------------------------------------------------------

_SA = (
    "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: ns}}\n{extra}"
)
_BINDING = (
    "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{name: b{ns}}}\n"
    "subjects: [{{kind: {subject}, name: app{ns}}}]\nroleRef: {{kind: ClusterRole, name: r}}\n"
)


def _token_case(pod_spec_lines: str, *extra_docs: str) -> list[Finding]:
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n"
    pod += pod_spec_lines + "  containers: [{name: c, image: x}]\n"
    return _findings(pod + "".join(extra_docs), "SBX-107")


def test_default_service_account_token_is_reported_unless_disabled() -> None:
    assert len(_token_case("")) == 1
    assert len(_token_case("  automountServiceAccountToken: true\n")) == 1
    assert len(_token_case("  serviceAccountName: default\n")) == 1
    assert _token_case("  automountServiceAccountToken: false\n") == []
    disabled = _SA.format(name="default", extra="automountServiceAccountToken: false\n")
    assert _token_case("", disabled) == []


def test_non_default_service_account_needs_a_binding_or_an_explicit_request() -> None:
    uses_app = "  serviceAccountName: app\n"
    assert len(_token_case(uses_app)) == 1
    assert len(_token_case(uses_app, _SA.format(name="app", extra=""))) == 1
    asked = _SA.format(name="app", extra="automountServiceAccountToken: true\n")
    assert _token_case(uses_app, asked) == []
    assert _token_case(uses_app + "  automountServiceAccountToken: true\n") == []
    role_binding = _BINDING.format(kind="RoleBinding", ns="", subject="ServiceAccount")
    assert _token_case(uses_app, role_binding.replace("name: b}", "name: b, namespace: ns}")) == []
    cluster_binding = _BINDING.format(kind="ClusterRoleBinding", ns="", subject="ServiceAccount")
    assert _token_case(uses_app, cluster_binding) == []
    # a binding of a User called "app", or of another account, does not count
    user_binding = _BINDING.format(kind="ClusterRoleBinding", ns="", subject="User")
    assert len(_token_case(uses_app, user_binding)) == 1
    other = _BINDING.format(kind="ClusterRoleBinding", ns="2", subject="ServiceAccount")
    assert len(_token_case(uses_app, other)) == 1


def test_service_account_in_another_namespace_does_not_count() -> None:
    other_ns = (
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: other}\n"
        "automountServiceAccountToken: false\n"
    )
    assert len(_token_case("", other_ns)) == 1


# --- corpus and leaks -----------------------------------------------------------------------


def _corpus_findings(area: str) -> tuple[list[Finding], list[tuple[str, int, str, str | None]]]:
    result = load_paths([str(CORPUS / area)])
    assert result.problems == []
    # as the engine reports them: a bundle copied per region is one finding "also in" the copies
    findings = collapse(workloads.check(result.manifests))
    assert list(repo.check(result.manifests, result.values)) == []  # no cross-talk
    rows = [
        (
            Path(f.location.path).relative_to(CORPUS).as_posix(),
            f.location.line,
            f.control.id,
            str(f.obj) if f.obj else None,
        )
        for f in findings
    ]
    return findings, rows


def test_corpus_matches_expected_findings_exactly() -> None:
    _, rows = _corpus_findings("workloads")
    expected: list[dict[str, Any]] = yaml.safe_load(EXPECTED.read_text())
    keys = [(e["file"], e["line"], e["id"], e["object"]) for e in expected]
    assert keys == sorted(keys, key=lambda k: (k[0], k[1], k[2]))
    assert Counter(rows) == Counter(keys)


def test_corpus_has_a_positive_for_every_control() -> None:
    _, rows = _corpus_findings("workloads")
    assert {row[2] for row in rows} == {control.id for control in workloads.CONTROLS}


def test_no_value_leaks_into_findings() -> None:
    findings, _ = _corpus_findings("workloads")
    needles = marker_needles(CORPUS / "workloads", MARKER)
    assert len(needles) >= 16
    texts = [f"{f.message}|{f!r}|{f.details!r}" for f in findings]
    for text in texts:
        for needle in needles:
            assert needle not in text
            assert needle[:12] not in text  # not even a prefix


_KEYS = ["env", "envFrom", "name", "value", "valueFrom", "secretKeyRef", "secretRef", "args"]
_KEYS += ["command", "volumes", "secret", "defaultMode", "items", "mode", "volumeMounts"]
_KEYS += ["readOnly", "subPath", "projected", "sources", "containers", "key", "prefix"]
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.just("$(X)"))
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KEYS), _TREE, max_size=5))
def test_arbitrary_pod_specs_never_crash(spec: dict[str, Any]) -> None:
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    text += yaml.safe_dump({"spec": spec})
    for finding in workloads.check(_manifests(text)):
        assert finding.control in workloads.CONTROLS
