"""The credential vocabulary: name tokens, value kinds and Kubernetes API credentials.

These functions parse untrusted bytes from every manifest, so besides the examples they are
checked with properties: any input gives an answer without raising, a name means the same in
every spelling (snake, camel, kebab, dotted), and no label ever repeats a token.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.audit.checks._kubecreds import kube_credentials
from sealbox.audit.checks._sensitive import (
    ValueKind,
    classify_value,
    credential_kinds,
    is_sensitive_name,
    is_username_name,
    name_judgement,
    name_words,
    placeholder_assignments,
)

_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_WORDS = st.lists(
    st.sampled_from(
        [
            *("db", "admin", "root", "api", "client", "access", "auth", "max", "total", "num"),
            *("batched", "password", "secret", "token", "tokens", "key", "file", "name", "ref"),
            *("private", "public", "id", "url", "pad", "image", "pull", "secrets", "env", "base"),
            *("value", "creds", "existing", "limit", "user", "mysql", "oidc", "claims", "ttl"),
        ]
    ),
    min_size=1,
    max_size=5,
)


def _spellings(words: list[str]) -> list[str]:
    camel = words[0] + "".join(word.capitalize() for word in words[1:])
    return [
        "_".join(words).upper(),
        "_".join(words),
        camel,
        "-".join(words),
        ".".join(words),
    ]


# --- names ------------------------------------------------------------------------------------


@_SETTINGS
@given(_WORDS)
def test_a_name_means_the_same_in_every_spelling(words: list[str]) -> None:
    verdicts = {spelling: is_sensitive_name(spelling) for spelling in _spellings(words)}
    assert len(set(verdicts.values())) == 1, verdicts
    assert all(name_words(spelling) == words for spelling in _spellings(words))


@_SETTINGS
@given(_WORDS, st.sampled_from(["file", "path", "name", "ref", "url", "ttl", "limit", "env"]))
def test_a_name_about_a_credential_is_not_one(words: list[str], about: str) -> None:
    assert not is_sensitive_name("_".join([*words, about]))


@_SETTINGS
@given(st.sampled_from(["max", "total", "num", "batched", "input", "new", "prompt"]), _WORDS)
def test_token_counts_are_never_credentials(count: str, words: list[str]) -> None:
    assert not is_sensitive_name("_".join([*words, count, "tokens"]))
    assert not is_sensitive_name("_".join([*words, count, "token"]))


@_SETTINGS
@given(st.text(max_size=200))
def test_any_name_is_judged_without_raising(name: str) -> None:
    assert isinstance(is_sensitive_name(name), bool)
    assert isinstance(is_username_name(name), bool)
    assert all(re.fullmatch(r"[a-z0-9]+", word) for word in name_words(name))


@pytest.mark.parametrize(
    ("name", "value", "judged"),
    [
        ("DB_PASSWORD", "hunter2", ValueKind.LITERAL),
        ("DB_PASSWORD", "changeme", ValueKind.PLACEHOLDER),
        ("MYSQL_ALLOW_EMPTY_PASSWORD", "1", None),
        ("MAX_TOTAL_TOKENS", "8192", None),
        ("passwd", "compat systemd", None),
        ("passwd", "files", None),
        ("passwd", "root:x:0:0:root:/root:/bin/bash\n", None),
        ("passwd", "hunter2", ValueKind.LITERAL),
        ("secretEnv", "OIDC_CLIENT_SECRET", None),
        ("channel_creds", '[{"type": "insecure"}]', None),
        ("username", "admin", None),
        ("DB_USER", "$(DB_USER)", None),
        ("api_key", "INSERT_API_KEY_HERE", ValueKind.PLACEHOLDER),
        ("client_secret", "os.environ['CLIENT_SECRET']", None),
    ],
)
def test_name_and_value_together(name: str, value: str, judged: ValueKind | None) -> None:
    assert name_judgement(name, value) is judged


def test_usernames() -> None:
    assert is_username_name("DB_USER")
    assert is_username_name("username")
    assert not is_username_name("DB_PASSWORD")


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("", ValueKind.EMPTY),
        (None, ValueKind.EMPTY),
        ("~", ValueKind.EMPTY),
        (False, ValueKind.BOOLEAN),
        ("1", ValueKind.BOOLEAN),
        ("Yes", ValueKind.BOOLEAN),
        (8192, ValueKind.NUMBER),
        ("0.95", ValueKind.NUMBER),
        ("123456", ValueKind.PLACEHOLDER),
        ("84629173", ValueKind.LITERAL),
        ("$DB_PASSWORD", ValueKind.REFERENCE),
        ("${DB_PASSWORD}", ValueKind.REFERENCE),
        ("$(DB_PASSWORD)", ValueKind.REFERENCE),
        ("{{ .Values.auth.password }}", ValueKind.REFERENCE),
        ("<%= ENV['TOKEN'] %>", ValueKind.REFERENCE),
        ("os.environ['DB_PASSWORD']", ValueKind.REFERENCE),
        ('os.getenv("TOKEN")', ValueKind.REFERENCE),
        ("process.env.API_KEY", ValueKind.REFERENCE),
        ("OIDC_CLIENT_SECRET", ValueKind.REFERENCE),
        ("/var/run/secrets/db/password", ValueKind.PATH),
        ('[{"type": "google_default"}]', ValueKind.STRUCTURE),
        (["a"], ValueKind.STRUCTURE),
        ("-----BEGIN DH PARAMETERS-----\nMIIB\n-----END DH PARAMETERS-----", ValueKind.PUBLIC),
        ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", ValueKind.PUBLIC),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n", ValueKind.LITERAL),
        ("changeme", ValueKind.PLACEHOLDER),
        ("CHANGE_ME", ValueKind.PLACEHOLDER),
        ("changeit", ValueKind.PLACEHOLDER),
        ("<password>", ValueKind.PLACEHOLDER),
        ("INSERT_TOKEN_HERE", ValueKind.PLACEHOLDER),
        ("your-password-here", ValueKind.PLACEHOLDER),
        ("REPLACE_ME", ValueKind.PLACEHOLDER),
        ("xxx", ValueKind.PLACEHOLDER),
        ("xxxx-xxxx-xxxx", ValueKind.PLACEHOLDER),
        ("********", ValueKind.PLACEHOLDER),
        ("dummy-token", ValueKind.PLACEHOLDER),
        ("x", ValueKind.LITERAL),
        ("hunter2", ValueKind.LITERAL),
        ("s3cr3t-marker-unit", ValueKind.LITERAL),
    ],
)
def test_value_kinds(value: object, kind: ValueKind) -> None:
    assert classify_value(value) is kind


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.binary(max_size=100).map(lambda raw: raw.decode("latin-1")),
    st.lists(st.text(max_size=5), max_size=3),
)


@_SETTINGS
@given(_VALUES)
def test_any_value_is_classified_without_raising(value: object) -> None:
    assert isinstance(classify_value(value), ValueKind)


@_SETTINGS
@given(st.text(max_size=100))
def test_quotes_and_surrounding_space_do_not_change_the_kind(text: str) -> None:
    kind = classify_value(text)
    assert classify_value(f'  "{text.strip()}"  ') is kind or not text.strip() or '"' in text


@_SETTINGS
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True))
def test_variable_references_are_never_literals(name: str) -> None:
    for reference in (f"${{{name}}}", f"$({name})", f"${name}", f"{{{{ .Values.{name} }}}}"):
        assert classify_value(reference) is ValueKind.REFERENCE


@_SETTINGS
@given(st.integers(min_value=-9_999_999, max_value=9_999_999))
def test_short_numbers_are_settings_not_credentials(number: int) -> None:
    assert classify_value(number) in (ValueKind.NUMBER, ValueKind.BOOLEAN, ValueKind.PLACEHOLDER)
    assert classify_value(str(number)) is classify_value(number)


def test_long_adversarial_values_are_scanned_in_one_pass() -> None:
    # Would never finish if a pattern backtracked exponentially (a regression, not a timing).
    for text in ("x" * 50_000 + "!", "x-" * 25_000 + "!", "a=" * 25_000, "eyJ" * 20_000):
        assert classify_value(text) is ValueKind.LITERAL or text.startswith("x")
        credential_kinds(text)
        kube_credentials(text)


def test_placeholder_assignments_in_config_files() -> None:
    text = "[db]\nuser = app\npassword = changeme\n;token = xxx\napi_key = real-one\n"
    assert placeholder_assignments(text) == ["password"]
    assert credential_kinds(text) == ["an assignment to 'api_key'"]
    assert credential_kinds("passwd:     compat\ngroup: files\n") == []


# --- Kubernetes API credentials -----------------------------------------------------------------


def _segment(claims: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


def _jwt(claims: object, signature: str = "c2lnbmF0dXJl") -> str:
    return f"{_segment({'alg': 'RS256', 'kid': 'k'})}.{_segment(claims)}.{signature}"


_DNS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@_SETTINGS
@given(_DNS, _DNS, st.from_regex(r"[A-Z_]{20,60}", fullmatch=True))
def test_service_account_jwts_name_their_subject_never_the_token(
    namespace: str, name: str, signature: str
) -> None:
    legacy = {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
    }
    bound = {
        "iss": "https://kubernetes.default.svc",
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name}},
        "sub": f"system:serviceaccount:{namespace}:{name}",
    }
    expected = [f"a service-account JWT for system:serviceaccount:{namespace}:{name}"]
    for claims in (legacy, bound):
        token = _jwt(claims, signature)
        labels = kube_credentials(f"token: {token}\n")
        assert labels == expected
        assert all(signature not in label and token[:20] not in label for label in labels)


def test_jwts_that_are_not_service_accounts_and_odd_subjects() -> None:
    assert kube_credentials(_jwt({"iss": "https://sso.example.com", "sub": "alice"})) == []
    odd = {"sub": "system:serviceaccount:ns:s3cr3t marker with spaces"}
    assert kube_credentials(_jwt(odd)) == ["a service-account JWT"]
    assert kube_credentials("eyJhbGciOi.eyJub3QganNvbg.x") == []


@pytest.mark.parametrize(
    ("user", "labels"),
    [
        ({"token": "abc.def"}, ["kubeconfig credentials (token) for user 'ci'"]),
        ({"client-key-data": "LS0t"}, ["kubeconfig credentials (client-key-data) for user 'ci'"]),
        (
            {"username": "admin", "password": "p4ss-w0rd"},
            ["kubeconfig credentials (password) for user 'ci'"],
        ),
        (
            {"auth-provider": {"name": "oidc", "config": {"id-token": "x.y.z", "client-id": "k"}}},
            ["kubeconfig credentials (auth-provider id-token) for user 'ci'"],
        ),
        ({"token": "${TOKEN}"}, []),
        ({"client-key": "/etc/kube/ci.key"}, []),
        ({"exec": {"command": "aws", "args": ["eks", "get-token"]}}, []),
    ],
)
def test_kubeconfig_users(user: dict[str, object], labels: list[str]) -> None:
    config = {"apiVersion": "v1", "kind": "Config", "users": [{"name": "ci", "user": user}]}
    assert kube_credentials(json.dumps(config)) == labels


@_SETTINGS
@given(st.text(max_size=400))
def test_any_text_is_searched_for_api_credentials_without_raising(text: str) -> None:
    labels = kube_credentials("users:\n" + text)
    assert all(isinstance(label, str) for label in labels)
