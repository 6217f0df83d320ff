"""Resource names as people type them: accepted, resolved to a group, or refused with a hint."""

from __future__ import annotations

import pytest

from sealbox.errors import InputError
from sealbox.storage import (
    builtin_groups,
    builtin_resources,
    resource_name,
    storage_prefix,
)
from sealbox.storage.resources_table import BUILTIN_GROUPS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("secrets", ("", "secrets")),
        ("configmaps", ("", "configmaps")),
        ("services", ("", "services")),  # stored under services/specs
        ("nodes", ("", "nodes")),  # stored under minions
        ("deployments", ("apps", "deployments")),  # undotted built-in: its real group
        ("ingresses", ("networking.k8s.io", "ingresses")),
        ("deployments.apps", ("apps", "deployments")),
        ("roles.rbac.authorization.k8s.io", ("rbac.authorization.k8s.io", "roles")),
        ("secrets.", ("", "secrets")),  # as an EncryptionConfiguration may write the core group
        ("widgets.example.io", ("example.io", "widgets")),  # custom: taken as given
        ("my-things.stable.example.com", ("stable.example.com", "my-things")),
    ],
)
def test_accepted_names(text: str, expected: tuple[str, str]) -> None:
    assert resource_name(text) == expected


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("secret", "secrets"),  # singular
        ("Secret", "secrets"),  # the kind
        ("Secrets", "secrets"),  # case
        ("SECRETS", "secrets"),
        ("ConfigMap", "configmaps"),
        ("NetworkPolicy", "networkpolicies"),  # y -> ies
        ("Ingress", "ingresses"),  # s -> ses
        ("Endpoints", "endpoints"),
        ("secrts", "secrets"),  # a typo
        ("cm", "configmaps"),  # kubectl short names
        ("svc", "services"),
        ("deployment.apps", "deployments.apps"),
        ("Deployments.apps", "deployments.apps"),
        ("deployments.batch", "deployments.apps"),  # a built-in of another group
        ("Widgets.example.io", "widgets.example.io"),  # custom, but not lowercase
    ],
)
def test_slips_are_refused_with_the_likely_name(text: str, suggestion: str) -> None:
    with pytest.raises(InputError) as caught:
        resource_name(text)
    assert str(caught.value) == f"{text!r}: no such resource; did you mean {suggestion}?"


@pytest.mark.parametrize("text", ["widgets", "qwertyuiop", "widgets.exa_mple.io", "a b.x.io", ""])
def test_unknown_names_are_refused_with_what_would_be_valid(text: str) -> None:
    with pytest.raises(InputError, match="no such resource") as caught:
        resource_name(text)
    assert "e.g. widgets.example.com" in str(caught.value)
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize("text", ["*.*", "*.", "*.apps", "*"])
def test_wildcards_are_not_one_resource(text: str) -> None:
    with pytest.raises(InputError, match="name one resource"):
        resource_name(text)


def test_every_builtin_resolves_to_where_it_is_stored() -> None:
    for resource, group in BUILTIN_GROUPS.items():
        assert resource_name(resource) == (group, resource)
        if group:
            assert resource_name(f"{resource}.{group}") == (group, resource)
    assert storage_prefix(*resource_name("services")) == "services/specs"
    assert storage_prefix(*resource_name("ingresses")) == "ingress"


def test_builtin_resources_by_group() -> None:
    core = builtin_resources("")
    assert {"secrets", "configmaps", "services", "endpoints", "nodes"} <= set(core)
    assert "ingresses" not in core
    assert "deployments" not in core
    assert builtin_resources("apps") == [
        "controllerrevisions",
        "daemonsets",
        "deployments",
        "replicasets",
        "statefulsets",
    ]
    assert "ingresses" in builtin_resources("networking.k8s.io")
    assert builtin_resources("example.com") == []
    assert {"apps", "networking.k8s.io", "rbac.authorization.k8s.io"} <= builtin_groups()
    assert "" not in builtin_groups()
