"""KeyResolver is a cache in front of parse_key: it must never answer differently."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.errors import InputError
from sealbox.storage.keys import KeyResolver, parse_key
from tests.vectors import load_etcd_values

SEGMENTS = st.sampled_from(
    [
        "secrets",
        "configmaps",
        "namespaces",
        "clusterroles",
        "deployments",
        "example.com",
        "widgets",
        "services",
        "specs",
        "minions",
        "team-a",
        "default",
        "db",
        "x",
        "",
        ".",
        "..",
    ]
)
KEYS = st.lists(SEGMENTS, min_size=1, max_size=5).map(lambda parts: "/registry/" + "/".join(parts))


def _parse(key: str) -> tuple[str, str | None, str] | type[InputError]:
    try:
        parsed = parse_key(key)
    except InputError:
        return InputError
    return parsed.group_resource, parsed.namespace, parsed.name


def _resolve(resolver: KeyResolver, key: str) -> tuple[str, str | None, str] | type[InputError]:
    try:
        return resolver(key)
    except InputError:
        return InputError


@settings(max_examples=300)
@given(st.lists(KEYS, min_size=1, max_size=30))
def test_resolver_agrees_with_parse_key_in_any_order(keys: list[str]) -> None:
    resolver = KeyResolver()
    for key in keys + keys[::-1]:
        assert _resolve(resolver, key) == _parse(key), key


def test_every_recorded_key() -> None:
    for dataset in ("kube-apiserver-1.36", "kube-apiserver-kmsv2-legacy"):
        prefix, values = load_etcd_values(dataset)
        resolver = KeyResolver(prefix)
        for key in list(values) * 2:
            parsed = parse_key(key, prefix=prefix)
            assert resolver(key) == (parsed.group_resource, parsed.namespace, parsed.name)


def test_a_services_head_never_answers_for_services_specs() -> None:
    """``/registry/services`` + a name looks cacheable, but ``services/specs`` is its own prefix."""
    resolver = KeyResolver()
    keys = [
        "/registry/services/secrets",
        "/registry/services/specs",
        "/registry/services/team-a/db",
        "/registry/services/specs/x",
        "/registry/services/specs/team-a/db",
    ]
    for key in keys + keys[::-1]:
        assert _resolve(resolver, key) == _parse(key), key
