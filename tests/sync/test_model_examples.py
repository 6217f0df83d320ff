"""Manifests in the shape ESO's guides show (written here, not copied) parse as users expect,
and the parser only ever fails with SyncSpecError, whatever it is given (hypothesis)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.errors import ConfigIssue
from sealbox.sync import (
    AwsProvider,
    CreationPolicy,
    DecodingStrategy,
    DeletionPolicy,
    RefreshPolicy,
    StoreKind,
    SyncSpecError,
    VaultProvider,
    parse_external_secret,
    parse_store,
    store_allows,
)

VAULT_STORE = """
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: vault-backend, namespace: shop}
spec:
  provider:
    vault:
      server: "http://my.vault.server:8200"
      path: "secret"
      version: "v2"
      auth:
        tokenSecretRef:
          name: "vault-token"
          key: "token"
"""

CLUSTER_STORE = """
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: aws-shared}
spec:
  refreshInterval: 0
  conditions:
    - namespaceSelector:
        matchLabels: {team: payments}
    - namespaces: [billing]
    - namespaceRegexes: ["^payments-.*"]
  provider:
    aws:
      service: SecretsManager
      region: eu-central-1
      auth:
        secretRef:
          accessKeyIDSecretRef: {name: awssm-secret, key: access-key, namespace: eso}
          secretAccessKeySecretRef: {name: awssm-secret, key: secret-access-key, namespace: eso}
"""

EXTERNAL_SECRET = """
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: vault-example, namespace: shop}
spec:
  refreshInterval: "15s"
  secretStoreRef:
    name: vault-backend
    kind: SecretStore
  target:
    name: example-sync
  data:
    - secretKey: foobar
      remoteRef:
        key: foo
        property: my-value
  dataFrom:
    - extract:
        key: foo
"""

TEMPLATED = """
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: db-dsn, namespace: shop}
spec:
  refreshInterval: "0"
  refreshPolicy: CreatedOnce
  secretStoreRef: {name: aws-shared, kind: ClusterSecretStore}
  target:
    creationPolicy: Merge
    deletionPolicy: Retain
    immutable: true
    template:
      engineVersion: v2
      type: Opaque
      metadata:
        labels: {app: shop}
      data:
        dsn: "postgres://{{ .user }}:{{ .password | urlquery }}@db:5432/shop"
  data:
    - secretKey: user
      remoteRef: {key: prod/db, property: username}
    - secretKey: password
      remoteRef: {key: prod/db, property: password, decodingStrategy: Base64}
  dataFrom:
    - find:
        path: prod/
        name: {regexp: "^prod/shared-.*"}
"""


def _load(text: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def test_a_vault_secret_store() -> None:
    store = parse_store(_load(VAULT_STORE))
    assert store.provider_name == "vault"
    assert isinstance(store.provider, VaultProvider)
    assert store.provider.token_secret_ref is not None
    assert (store.provider.server, store.provider.path, store.provider.version) == (
        "http://my.vault.server:8200",
        "secret",
        "v2",
    )


def test_a_cluster_store_limited_to_some_namespaces() -> None:
    store = parse_store(_load(CLUSTER_STORE))
    assert store.kind is StoreKind.CLUSTER_SECRET_STORE
    assert isinstance(store.provider, AwsProvider)
    assert store.refresh_interval is None  # 0: the controller's default
    assert store_allows(store.conditions, "shop", {"team": "payments"})
    assert store_allows(store.conditions, "billing", {})
    assert store_allows(store.conditions, "payments-eu", {})
    assert not store_allows(store.conditions, "shop", {"team": "web"})


def test_the_basic_external_secret() -> None:
    spec = parse_external_secret(_load(EXTERNAL_SECRET))
    assert spec.refresh_interval == timedelta(seconds=15)
    assert spec.target.name == "example-sync"
    assert spec.data[0].remote_ref.property == "my-value"
    assert spec.data_from[0].extract is not None
    assert spec.data_from[0].extract.key == "foo"


def test_a_templated_created_once_external_secret() -> None:
    spec = parse_external_secret(_load(TEMPLATED))
    assert spec.store_ref.kind is StoreKind.CLUSTER_SECRET_STORE
    assert (spec.refresh_interval, spec.refresh_policy) == (
        timedelta(0),
        RefreshPolicy.CREATED_ONCE,
    )
    assert spec.target.name == "db-dsn"
    assert (spec.target.creation_policy, spec.target.deletion_policy) == (
        CreationPolicy.MERGE,
        DeletionPolicy.RETAIN,
    )
    assert spec.target.immutable
    assert spec.target.template is not None
    assert "urlquery" in spec.target.template.data["dsn"]
    assert spec.data[1].remote_ref.decoding is DecodingStrategy.BASE64
    find = spec.data_from[0].find
    assert find is not None
    assert (find.path, find.name_regexp) == ("prod/", "^prod/shared-.*")


# Anything JSON can hold, at the places the parser looks, plus whole random documents.
_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["0", "1h", "-1s", "Owner", "Merge", "None", "Delete", "v2", "Base64", "^a("]),
)
_json = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "key",
                    "name",
                    "kind",
                    "data",
                    "remoteRef",
                    "secretKey",
                    "target",
                    "template",
                    "find",
                    "extract",
                    "regexp",
                    "vault",
                    "aws",
                    "kubernetes",
                    "auth",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)
_field_names = [
    "secretStoreRef",
    "refreshInterval",
    "refreshPolicy",
    "target",
    "data",
    "dataFrom",
    "provider",
    "conditions",
    "controller",
]


def _issues_of(parse: Callable[[Any], object], document: object) -> tuple[ConfigIssue, ...]:
    """The issues ``parse`` reports (none when it accepts); any other exception fails the test."""
    try:
        parse(document)
    except SyncSpecError as error:
        if not error.issues:
            raise AssertionError("a SyncSpecError without issues") from error
        return error.issues
    return ()


@settings(max_examples=300, deadline=None)
@given(
    spec=st.dictionaries(st.sampled_from(_field_names), _json, max_size=6),
    kind=st.sampled_from(["SecretStore", "ClusterSecretStore", None, 3]),
)
def test_parsers_fail_only_with_the_spec_error(spec: dict[str, Any], kind: object) -> None:
    obj = {"kind": kind, "metadata": {"name": "x", "namespace": "n"}, "spec": spec}
    for parse in (parse_external_secret, parse_store):
        issues = _issues_of(parse, obj)
        assert all(str(issue) for issue in issues)


@settings(max_examples=100, deadline=None)
@given(document=_json)
def test_any_document_fails_only_with_the_spec_error(document: object) -> None:
    for parse in (parse_external_secret, parse_store):
        _issues_of(parse, document)


def test_the_api_example_in_the_docs_parses() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "sync.md").read_text(encoding="utf-8")
    section = text.split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None, "docs/sync.md: no YAML example in the API section"
    spec = parse_external_secret(yaml.safe_load(block.group(1)))
    assert spec.refresh_interval == timedelta(minutes=15)
    assert [item.secret_key for item in spec.data] == ["user", "password"]
    assert len(spec.data_from) == 2
    error = section.split("```\n", 2)[1]  # the error shown is the one a parse gives
    obj = yaml.safe_load(block.group(1))
    obj["metadata"] = {"name": "db", "namespace": "shop"}
    obj["spec"]["target"] = {"creationPolicy": "None", "deletionPolicy": "Delete"}
    obj["spec"]["data"].append({"secretKey": "x", "remoteRef": {}})
    with pytest.raises(SyncSpecError) as caught:
        parse_external_secret(obj)
    assert str(caught.value) == error.rstrip("\n")


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list('{}. |-$()"abcx:=0')), max_size=30))
def test_any_template_text_is_accepted_or_a_spec_error(text: str) -> None:
    obj = yaml.safe_load(EXTERNAL_SECRET)
    obj["spec"]["target"]["template"] = {"data": {"out": text}}
    issues = _issues_of(parse_external_secret, obj)
    assert all(
        str(issue).startswith("spec.target.template.data.out: template: out:") for issue in issues
    )
