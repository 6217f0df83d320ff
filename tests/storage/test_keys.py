"""Etcd keys <-> (group, resource, namespace, name), including the recorded keys and prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.errors import InputError
from sealbox.storage.keys import ObjectKey, normalize_prefix, object_key, parse_key
from tests.vectors import load_etcd_values

LEGACY_PREFIX = "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry"


@pytest.mark.parametrize("dataset", ["kube-apiserver-1.36", "kube-apiserver-kmsv2-legacy"])
def test_every_recorded_key_parses_and_round_trips(dataset: str) -> None:
    prefix, values = load_etcd_values(dataset)
    seen = set()
    for key in values:
        parsed = parse_key(key, prefix=prefix)
        assert parsed.key == key
        assert parsed.prefix == prefix
        assert parsed.namespace in {"default", "team-a", "kms-v2-legacy-data"}
        assert key.endswith(f"/{parsed.namespace}/{parsed.name}")
        assert (
            object_key(parsed.group_resource, parsed.namespace, parsed.name, prefix=prefix) == key
        )
        seen.add(parsed.group_resource)
    expected = (
        {"secrets"} if "legacy" in dataset else {"secrets", "configmaps", "widgets.example.com"}
    )
    assert seen == expected


def test_recorded_custom_resource_key() -> None:
    parsed = parse_key("/registry/example.com/widgets/team-a/w-kmsv2")
    assert parsed == ObjectKey(
        key="/registry/example.com/widgets/team-a/w-kmsv2",
        prefix="/registry",
        group="example.com",
        resource="widgets",
        namespace="team-a",
        name="w-kmsv2",
    )


@pytest.mark.parametrize(
    ("key", "group_resource", "namespace", "name"),
    [
        ("/registry/controllers/ns/rc", "replicationcontrollers", "ns", "rc"),
        ("/registry/services/endpoints/ns/web", "endpoints", "ns", "web"),
        ("/registry/services/specs/ns/web", "services", "ns", "web"),
        ("/registry/minions/node-1", "nodes", None, "node-1"),
        ("/registry/ingress/ns/in", "ingresses.networking.k8s.io", "ns", "in"),
        ("/registry/deployments/ns/d", "deployments.apps", "ns", "d"),
        ("/registry/cronjobs/ns/c", "cronjobs.batch", "ns", "c"),
        (
            "/registry/leases/kube-node-lease/n1",
            "leases.coordination.k8s.io",
            "kube-node-lease",
            "n1",
        ),
        (
            "/registry/clusterroles/system:admin",
            "clusterroles.rbac.authorization.k8s.io",
            None,
            None,
        ),
        ("/registry/endpointslices/ns/e", "endpointslices.discovery.k8s.io", "ns", "e"),
        ("/registry/flowschemas/exempt", "flowschemas.flowcontrol.apiserver.k8s.io", None, None),
        ("/registry/namespaces/default", "namespaces", None, "default"),
        ("/registry/events/ns/e.17a", "events", "ns", "e.17a"),
        ("/registry/ranges/serviceips", "ranges", None, "serviceips"),
        ("/registry/somethingnew/ns/x", "somethingnew", "ns", "x"),
        (
            "/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
            "widgets.example.com",
        ),
        (
            "/registry/apiregistration.k8s.io/apiservices/v1.apps",
            "apiservices.apiregistration.k8s.io",
            None,
            "v1.apps",
        ),
        ("/registry/example.com/clusterwidgets/cw", "clusterwidgets.example.com", None, "cw"),
    ],
)
def test_storage_layouts(
    key: str, group_resource: str, namespace: str | None, name: str | None
) -> None:
    parsed = parse_key(key)
    assert parsed.group_resource == group_resource
    assert parsed.namespace == namespace
    assert parsed.name == (name or key.rsplit("/", 1)[1])
    assert object_key(group_resource, parsed.namespace, parsed.name) == key


def test_bytes_keys_and_custom_prefixes() -> None:
    key = f"{LEGACY_PREFIX}/secrets/kms-v2-legacy-data/dek-source-aes-gcm-key"
    parsed = parse_key(key.encode(), prefix=LEGACY_PREFIX.lstrip("/") + "/")
    assert (parsed.prefix, parsed.group_resource, parsed.name) == (
        LEGACY_PREFIX,
        "secrets",
        "dek-source-aes-gcm-key",
    )
    root = parse_key("/secrets/ns/s", prefix="")
    assert (root.prefix, root.namespace, root.name) == ("/", "ns", "s")
    assert object_key("secrets", "ns", "s", prefix="/") == "/secrets/ns/s"


@pytest.mark.parametrize(
    ("prefix", "normalized"),
    [("/registry", "/registry"), ("registry/", "/registry"), ("//a//b/", "/a/b"), ("", "/")],
)
def test_prefix_normalization_follows_go_path_join(prefix: str, normalized: str) -> None:
    assert normalize_prefix(prefix) == normalized


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("/other/secrets/ns/n", "is outside the etcd prefix '/registry'"),
        ("/registryx/secrets/ns/n", "is outside the etcd prefix"),
        ("/registry", "is outside the etcd prefix"),
        ("/registry/secrets", "0 segments after the resource"),
        ("/registry/secrets/a/b/c", "3 segments after the resource"),
        ("/registry/secrets//n", "empty, '.' or '..' path segment"),
        ("/registry/secrets/ns/n/", "empty, '.' or '..' path segment"),
        ("/registry/secrets/../n", "empty, '.' or '..' path segment"),
        ("/registry/example.com", "names a group but no resource"),
        ("/registry/example.com/widgets", "0 segments after the resource"),
    ],
)
def test_bad_keys_name_the_key_and_the_expected_form(key: str, why: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_key(key)
    message = str(caught.value)
    assert repr(key) in message
    assert why in message
    assert "expected /registry/<resource>/[<namespace>/]<name>" in message


def test_non_utf8_key_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"is not UTF-8 text"):
        parse_key(b"/registry/secrets/ns/\xff")


@pytest.mark.parametrize(
    ("group_resource", "namespace", "name", "key"),
    [
        ("ingresses.extensions", "ns", "i", "/registry/ingress/ns/i"),
        ("events.events.k8s.io", "ns", "e", "/registry/events/ns/e"),
        ("deployments.example.com", "ns", "d", "/registry/example.com/deployments/ns/d"),
        ("roles.rbac.authorization.k8s.io", "ns", "r", "/registry/roles/ns/r"),
    ],
)
def test_object_key_shared_storage_and_lookalikes(
    group_resource: str, namespace: str, name: str, key: str
) -> None:
    assert object_key(group_resource, namespace, name) == key


@pytest.mark.parametrize(
    ("group_resource", "namespace", "name"),
    [
        ("secrets", "ns", "a/b"),
        ("secrets", "", "n"),
        ("secrets", "ns", ".."),
        ("", None, "n"),
        ("widgets.example..com", None, "n"),
    ],
)
def test_object_key_rejects_what_cannot_be_a_key(
    group_resource: str, namespace: str | None, name: str
) -> None:
    with pytest.raises(InputError):
        object_key(group_resource, namespace, name)


segment = st.text(
    st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=20
).filter(lambda s: s not in (".", ".."))
group_resources = st.sampled_from(
    [
        "secrets",
        "configmaps",
        "services",
        "endpoints",
        "nodes",
        "replicationcontrollers",
        "ingresses.networking.k8s.io",
        "deployments.apps",
        "customresourcedefinitions.apiextensions.k8s.io",
        "widgets.example.com",
        "things.sub.example.org",
    ]
)


@given(group_resources, st.none() | segment, segment, st.sampled_from(["/registry", "/x/y"]))
def test_object_key_and_parse_key_are_inverse(
    group_resource: str, namespace: str | None, name: str, prefix: str
) -> None:
    key = object_key(group_resource, namespace, name, prefix=prefix)
    parsed = parse_key(key, prefix=prefix)
    assert (parsed.group_resource, parsed.namespace, parsed.name) == (
        group_resource,
        namespace,
        name,
    )
    assert object_key(parsed.group_resource, parsed.namespace, parsed.name, prefix=prefix) == key
