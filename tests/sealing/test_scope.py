"""Scope labels and annotations exactly as upstream's ``TestEncryptionLabel`` and
``TestClusterAndNamespaceWide`` pin them."""

from __future__ import annotations

import pytest

from sealbox.sealing import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
    label_for,
    scope_annotations,
    scope_from_annotations,
)


@pytest.mark.parametrize(
    ("scope", "label"),
    [(Scope.STRICT, b"myns/myname"), (Scope.NAMESPACE_WIDE, b"myns"), (Scope.CLUSTER_WIDE, b"")],
)
def test_labels_match_upstream(scope: Scope, label: bytes) -> None:
    assert label_for(scope, "myns", "myname") == label


def test_scope_names_are_the_flag_spellings() -> None:
    assert [scope.value for scope in Scope] == ["strict", "namespace-wide", "cluster-wide"]
    assert Scope("namespace-wide") is Scope.NAMESPACE_WIDE


@pytest.mark.parametrize(
    ("annotations", "scope"),
    [
        (None, Scope.STRICT),
        ({}, Scope.STRICT),
        ({NAMESPACE_WIDE_ANNOTATION: "true"}, Scope.NAMESPACE_WIDE),
        ({CLUSTER_WIDE_ANNOTATION: "true"}, Scope.CLUSTER_WIDE),
        ({CLUSTER_WIDE_ANNOTATION: "true", NAMESPACE_WIDE_ANNOTATION: "true"}, Scope.CLUSTER_WIDE),
        ({CLUSTER_WIDE_ANNOTATION: "True"}, Scope.STRICT),
        ({NAMESPACE_WIDE_ANNOTATION: "yes", CLUSTER_WIDE_ANNOTATION: "false"}, Scope.STRICT),
        ({"sealedsecrets.bitnami.com/scope": "cluster-wide"}, Scope.STRICT),
    ],
)
def test_scope_from_annotations(annotations: dict[str, str] | None, scope: Scope) -> None:
    assert scope_from_annotations(annotations) is scope


@pytest.mark.parametrize("scope", list(Scope))
def test_written_annotations_read_back_as_the_same_scope(scope: Scope) -> None:
    assert scope_from_annotations(scope_annotations(scope)) is scope
    assert scope_annotations(Scope.STRICT) == {}
