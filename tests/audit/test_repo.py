"""Repository controls SBX-201..203 and the shared credential patterns; corpus and no leaks."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.audit.checks import repo, workloads
from sealbox.audit.checks._sensitive import credential_kinds, is_literal, is_sensitive_name
from sealbox.audit.loader import ValuesDocument, load_paths, load_text
from sealbox.audit.model import Finding, Location, Severity
from tests.audit.markers import marker_needles

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = Path(__file__).parent / "expected" / "manifests.yaml"
MARKER = re.compile(r"s3cr3t-marker-[A-Za-z0-9-]+|AKIAMARKER[0-9]+|ghp_MARKER[0-9]+")


def _check(text: str, path: str = "inline.yaml") -> list[Finding]:
    result = load_text(text, path)
    assert not result.problems
    return list(repo.check(result.manifests, result.values))


def _values(body: dict[str, Any]) -> list[Finding]:
    text = yaml.safe_dump(body)
    return _check(text, "values.yaml")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- shared patterns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("dbPassword", True),
        ("PGPASSWORD", True),
        ("adminpassword", True),
        ("db.auth.password", True),
        ("API_TOKEN", True),
        ("apiKey", True),
        ("APIKey", True),
        ("api_key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("client_secret", True),
        ("SECRET_KEY_BASE", True),
        ("ssh_private_key", True),
        ("credentials", True),
        ("DB_PASS", True),
        ("passphrase", True),
        ("PASSWORD_FILE", False),
        ("METALLB_ML_SECRET_KEY_PATH", False),
        ("passwordSecretName", False),
        ("existingSecret", False),
        ("existingSecretPasswordKey", False),
        ("adminPasswordKey", False),
        ("secretKeyRef", False),
        ("TOKEN_URL", False),
        ("tokenTTL", False),
        ("PASSWORD_MIN_LENGTH", False),
        ("aws_access_key_id", False),
        ("PUBLIC_KEY", False),
        ("key", False),
        ("TOKENIZER", False),
        ("BYPASS", False),
        ("max_num_batched_tokens", False),
        ("MAX_TOTAL_TOKENS", False),
        ("requestedIDTokenClaims", False),
        ("pad_token", False),
        ("token_limit", False),
        ("secretEnv", False),
        ("secretRef", False),
        ("secret_name", False),
        ("imagePullSecrets", False),
        ("tls_secret", False),
        ("create-secret.sh", False),
        ("passwordPolicy", False),
        ("password_encryption", False),
        ("passwordless", False),
        ("access_token", True),
        ("id_token", True),
        ("HF_TOKEN", True),
        ("api_tokens", True),
        ("client_secrets", True),
        ("channel_creds", True),
        ("MYSQL_ALLOW_EMPTY_PASSWORD", True),
        ("password2", True),
        ("SECRETS_MANAGER_REGION", False),
        ("", False),
        ("__", False),
    ],
)
def test_sensitive_names(name: str, sensitive: bool) -> None:
    assert is_sensitive_name(name) is sensitive


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("hunter2", True),
        (84629173, True),
        ("changeme", False),
        (123456, False),
        (4096, False),
        ("1", False),
        ("0.9", False),
        ("OIDC_CLIENT_SECRET", False),
        ("os.environ['DB_PASSWORD']", False),
        ('[{"type": "google_default"}]', False),
        ("-----BEGIN DH PARAMETERS-----\nMIIB\n-----END DH PARAMETERS-----\n", False),
        ("", False),
        ("   ", False),
        (None, False),
        (True, False),
        (1.5, False),
        ("true", False),
        ("null", False),
        ("/run/secrets/db", False),
        ("./secret.txt", False),
        ("file:///etc/key", False),
        ("{{ .Values.x }}", False),
        ("${DB_PASSWORD}", False),
        ("$(DB_PASSWORD)", False),
        ("$DB_PASSWORD", False),
        ("ENC[AES256_GCM,data:AAAA,type:str]", False),
        ("<your-password>", False),
        ("********", False),
        ("ref+vault://secret/db#password", False),
        (["x"], False),
    ],
)
def test_literal_values(value: object, literal: bool) -> None:
    assert is_literal(value) is literal


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", ["a private key"]),
        ("-----BEGIN PUBLIC KEY-----\nabc\n", []),
        ("id=AKIAABCDEFGHIJKLMNOP", ["an AWS access key id"]),
        ("ghp_" + "a" * 36, ["a GitHub token"]),
        ("xoxb-1234567890-abcdef", ["a Slack token"]),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", ["a JWT"]),
        ("eyJhbGciOiJIUzI1NiJ9", []),
        ("postgres://u:pw@db/x", ["a password in a URI"]),
        ("postgres://u:$(PW)@db/x", []),
        ("postgres://u:${PW}@db/x", []),
        ("https://example.com/a:b@c", []),
        ("password=hunter2", ["an assignment to 'password'"]),
        ('{"apiKey": "k"}', ["an assignment to 'apiKey'"]),
        ("password: ''", []),
        ("password_file = /etc/pw", []),
        ("# password = old\n; token = old", []),
        ("token: true", []),
        (_b64("password=hunter2"), ["an assignment to 'password' (base64-encoded)"]),
        (_b64("just some harmless words"), []),
        ("bm90IGJhc2U2NA", []),
    ],
)
def test_credential_kinds(text: str, kinds: list[str]) -> None:
    assert credential_kinds(text) == kinds


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_credential_kinds_accepts_any_text(text: str) -> None:
    kinds = credential_kinds(text)
    assert all(isinstance(kind, str) for kind in kinds)
    assert len(kinds) == len(set(kinds))
    assert credential_kinds(_b64(text)) is not None


# --- SBX-201 plaintext Secrets --------------------------------------------------------------


def _secret(body: str, api_version: str = "v1") -> str:
    return f"apiVersion: {api_version}\nkind: Secret\nmetadata: {{name: s, namespace: n}}\n{body}"


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        (f"data: {{password: {_b64('x')}, user: {_b64('u')}}}\n", [["password"]]),
        (f"data: {{password: {_b64('x')}, tls.crt: {_b64('u')}}}\n", [["password", "tls.crt"]]),
        ("stringData: {pin: 1234}\n", [["pin"]]),
        (f"data: {{a: {_b64('x')}}}\nstringData: {{b: y}}\n", [["a"], ["b"]]),
        ("data: {a: '', b: null}\n", []),
        ("data: {}\n", []),
        ("data: [a, b]\n", []),
        ("data: {a: '{{ .Values.a | b64enc }}'}\n", []),
        ("stringData: {a: '${A}'}\n", []),
        ("stringData: {a: 'ENC[AES256_GCM,data:x,type:str]'}\n", []),
        ("stringData: {a: plain}\nsops: {version: 3.9.0}\n", []),
        ("stringData: {username: admin, enabled: 'true'}\n", []),
        (f"data: {{dhparam.pem: {_b64('-----BEGIN DH PARAMETERS-----')}}}\n", []),
        (f"data: {{blob: {base64.b64encode(bytes(range(256))).decode()}}}\n", [["blob"]]),
    ],
)
def test_plaintext_secrets(body: str, keys: list[list[str]]) -> None:
    findings = [f for f in _check(_secret(body)) if f.control is repo.PLAINTEXT_SECRET]
    assert [f.details["keys"] for f in findings] == keys
    assert all(f.severity is Severity.HIGH for f in findings)


def test_only_core_v1_secrets_count() -> None:
    assert _check(_secret("data: {a: eA==}\n", api_version="example.com/v1")) == []
    sealed = (
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s}\n"
        "spec: {encryptedData: {a: AgBy}, template: {data: {b: c}}}\n"
    )
    assert _check(sealed) == []


# --- SBX-202 ConfigMaps ---------------------------------------------------------------------


def _configmap(data: dict[str, str], field: str = "data") -> list[Finding]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, field: data}
    return _check(yaml.safe_dump(body))


def test_configmap_keys_and_values() -> None:
    (finding,) = _configmap(
        {
            "DB_PASSWORD": "hunter2",
            "app.ini": "[db]\npassword = hunter2\n",
            "ca.key": "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n",
            "LOG_LEVEL": "debug",
            "PASSWORD_FILE": "/run/secrets/pw",
        }
    )
    assert finding.details["keys"] == {
        "DB_PASSWORD": ["credential-like name"],
        "app.ini": ["an assignment to 'password'"],
        "ca.key": ["a private key"],
    }
    assert "hunter2" not in finding.message


def test_configmap_binary_data_is_decoded() -> None:
    (finding,) = _configmap({"ids.bin": _b64("AKIAABCDEFGHIJKLMNOP")}, field="binaryData")
    assert finding.details == {
        "field": "binaryData",
        "keys": {"ids.bin": ["an AWS access key id (base64-encoded)"]},
    }
    assert _configmap({"blob": _b64("\x00\x01binary")}, field="binaryData") == []


# --- SBX-203 Helm values --------------------------------------------------------------------


def test_values_paths_and_pairs() -> None:
    findings = _values(
        {
            "db": {"auth": {"password": "p", "existingSecret": "db"}},
            "a.b": {"token": "t"},
            "env": [{"name": "API_TOKEN", "value": "v"}, {"name": "LEVEL", "value": "x"}],
            "urls": ["https://x.example", "redis://:pw@redis:6379"],
            "enabled": True,
        }
    )
    assert sorted(f.details["key"] for f in findings) == [
        '["a.b"].token',
        "db.auth.password",
        "env[0].value",
        "urls[1]",
    ]
    assert all(f.obj is None for f in findings)


def test_values_line_is_the_line_of_the_parent_mapping() -> None:
    text = "replicas: 1\ndb:\n  host: x\n  auth:\n    user: u\n    password: p\n"
    (finding,) = _check(text, "values-prod.yaml")
    assert finding.location == Location("values-prod.yaml", 5)


def test_sops_values_files_are_skipped() -> None:
    assert _values({"password": "ENC[AES256_GCM,data:x]", "sops": {"version": "3"}}) == []
    assert _values({"password": "leftover", "sops": {"version": "3"}}) == []


def test_deeply_nested_values_do_not_crash() -> None:
    body: dict[str, Any] = {"password": "p"}
    for _ in range(200):
        body = {"x": body}
    document = ValuesDocument(body, Location("values.yaml", 1))
    assert list(repo.check([], [document])) == []  # beyond the depth limit: not walked


_VALUES_KEYS = ["password", "token", "name", "value", "existingSecret", "apiKey", "x", "a.b"]
_TREE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_VALUES_KEYS), inner)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_VALUES_KEYS), _TREE, max_size=5))
def test_arbitrary_values_never_crash(body: dict[str, Any]) -> None:
    for finding in repo.check([], [ValuesDocument(body, Location("values.yaml", 1))]):
        assert finding.control in (repo.VALUES_CREDENTIALS, repo.PLACEHOLDER_CREDENTIAL)


# --- SBX-204 placeholders, SBX-205 legacy token Secrets, SBX-206 API credentials -----------------


def _ids(findings: list[Finding]) -> list[tuple[str, list[str]]]:
    return [(f.control.id, list(f.details.get("keys", []))) for f in findings]


def test_placeholders_are_low_notes_not_literal_credentials() -> None:
    secret = _secret(f"data: {{password: {_b64('changeme')}, api-key: {_b64('real-one')}}}\n")
    assert _ids(_check(secret)) == [("SBX-201", ["api-key"]), ("SBX-204", ["password"])]
    (note,) = _configmap({"SESSION_SECRET": "REPLACE_ME", "app.ini": "password = changeme\n"})
    assert note.severity is Severity.LOW
    assert note.details["keys"] == ["SESSION_SECRET", "app.ini"]
    (values,) = _values({"auth": {"password": "<password>", "user": "admin"}})
    assert (values.control.id, values.obj) == ("SBX-204", None)
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - name: c\n    env:\n    - {name: ADMIN_PASSWORD, value: changeme}\n"
        "    - {name: MAX_TOTAL_TOKENS, value: '8192'}\n    - {name: DB_PASSWORD, value: x}\n"
    )
    (env,) = _check(pod)
    assert (
        env.message == "container 'c' env sets a placeholder or default credential: "
        "'ADMIN_PASSWORD'"
    )


def test_legacy_token_secrets_are_reported_even_without_data() -> None:
    body = (
        "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\n"
        "metadata:\n  name: t\n  namespace: n\n  annotations:\n"
        "    kubernetes.io/service-account.name: {account}\n"
    )
    (finding,) = _check(body.format(account="deployer"))
    assert finding.control is repo.LEGACY_TOKEN_SECRET
    assert finding.severity is Severity.MEDIUM
    assert "'deployer'" in finding.message
    (odd,) = _check(body.format(account="'s3cr3t-marker-annotation value'"))
    assert "s3cr3t" not in odd.message
    assert "s3cr3t" not in repr(odd.details)


def _sa_jwt(namespace: str, name: str) -> str:
    def segment(claims: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    claims = {
        "iss": "kubernetes/serviceaccount",
        "sub": f"system:serviceaccount:{namespace}:{name}",
    }
    return f"{segment({'alg': 'RS256'})}.{segment(claims)}.s3cr3t-marker-unit-signature"


def test_api_credentials_are_critical_instead_of_a_generic_finding() -> None:
    token = _sa_jwt("ci", "deployer")
    findings = _check(_secret(f"data: {{token: {_b64(token)}, extra: {_b64('other')}}}\n"))
    assert _ids(findings) == [("SBX-206", ["token"]), ("SBX-201", ["extra"])]
    api = findings[0]
    assert api.severity is Severity.CRITICAL
    assert api.details["keys"] == {
        "token": ["a service-account JWT for system:serviceaccount:ci:deployer"]
    }
    assert "s3cr3t" not in api.message
    [api_cm] = _configmap({"bearer": token, "bearer.b64": _b64(token)})
    assert api_cm.control is repo.KUBE_CREDENTIALS
    assert list(api_cm.details["keys"]) == ["bearer", "bearer.b64"]


def test_argo_cd_cluster_secrets_hold_api_credentials() -> None:
    config = '{"bearerToken": "s3cr3t-marker-unit-argo", "tlsClientConfig": {"insecure": false}}'
    body = f"stringData:\n  name: staging\n  config: '{config}'\n"
    api = next(f for f in _check(_secret(body)) if f.control is repo.KUBE_CREDENTIALS)
    assert api.details["keys"] == {"config": ["Argo CD cluster credentials (bearerToken)"]}
    exec_only = '{"execProviderConfig": {"command": "argocd-k8s-auth"}, "bearerToken": ""}'
    quiet = _check(_secret(f"stringData:\n  config: '{exec_only}'\n"))
    assert all(f.control is not repo.KUBE_CREDENTIALS for f in quiet)


def test_a_token_secret_lists_only_its_token() -> None:
    body = (
        f"type: kubernetes.io/service-account-token\ndata: {{ca.crt: {_b64('x')}, token: eA==}}\n"
    )
    assert [(f.control.id, f.details.get("keys")) for f in _check(_secret(body))] == [
        ("SBX-205", None),
        ("SBX-201", ["token"]),
    ]


# --- controls, corpus and leaks -------------------------------------------------------------


def test_controls_are_complete_and_in_area_two() -> None:
    ids = [c.id for c in repo.CONTROLS]
    assert ids[:6] == ["SBX-201", "SBX-202", "SBX-203", "SBX-204", "SBX-205", "SBX-206"]
    for control in repo.CONTROLS:
        assert control.area == "manifests"
        assert control.rationale
        assert control.remediation


def _corpus() -> tuple[list[Finding], list[tuple[str, int, str, str | None]]]:
    result = load_paths([str(CORPUS / "manifests")])
    assert result.problems == []
    assert len(result.values) == 3
    findings = list(repo.check(result.manifests, result.values))
    assert list(workloads.check(result.manifests)) == []  # no cross-talk
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
    _, rows = _corpus()
    expected: list[dict[str, Any]] = yaml.safe_load(EXPECTED.read_text())
    keys = [(e["file"], e["line"], e["id"], e["object"]) for e in expected]
    assert keys == sorted(keys, key=lambda k: (k[0], k[1], k[2]))
    ours = {control.id for control in repo.CONTROLS}
    assert Counter(rows) == Counter(key for key in keys if key[2] in ours)
    assert {row[2] for row in rows} == {control.id for control in repo.CONTROLS}


def test_no_value_leaks_into_findings() -> None:
    findings, _ = _corpus()
    needles = marker_needles(CORPUS / "manifests", MARKER)
    assert "s3cr3t-marker-registry" in needles  # found inside base64 inside base64
    assert "s3cr3t-marker-sa-jwt-signature" in needles  # a JWT inside a Secret's data
    assert "s3cr3t-marker-kubeconfig-client-key" in needles  # base64 in a kubeconfig in base64
    assert len(needles) >= 36
    for finding in findings:
        text = f"{finding.message}|{finding!r}|{finding.details!r}"
        for needle in needles:
            assert needle not in text
            assert needle[:12] not in text  # not even a prefix
