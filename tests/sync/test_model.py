"""ExternalSecret specs: every field of the subset parsed, every wrong one named by its path."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from sealbox.errors import InputError
from sealbox.sync import (
    DEFAULT_REFRESH_INTERVAL,
    CreationPolicy,
    DataFromItem,
    DataItem,
    DecodingStrategy,
    DeletionPolicy,
    FindSpec,
    MergePolicy,
    RefreshPolicy,
    RemoteRefSpec,
    StoreKind,
    StoreRef,
    SyncSpecError,
    parse_external_secret,
)


def _es(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
        "data": [{"secretKey": "password", "remoteRef": {"key": "db/creds"}}],
    }
    base.update(spec)
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": base,
    }


def _issues(obj: Any) -> list[str]:
    with pytest.raises(SyncSpecError) as caught:
        parse_external_secret(obj)
    return [str(issue) for issue in caught.value.issues]


def test_minimal_spec_takes_eso_defaults() -> None:
    spec = parse_external_secret(_es())
    assert spec.store_ref == StoreRef("vault", StoreKind.SECRET_STORE)
    assert spec.refresh_interval == DEFAULT_REFRESH_INTERVAL == timedelta(hours=1)
    assert spec.refresh_policy is RefreshPolicy.PERIODIC
    assert spec.target.name == "db"  # defaults to the ExternalSecret's name
    assert spec.target.creation_policy is CreationPolicy.OWNER
    assert spec.target.deletion_policy is DeletionPolicy.RETAIN
    assert spec.target.immutable is False
    assert spec.target.template is None
    assert spec.data == (DataItem("password", RemoteRefSpec("db/creds")),)
    assert spec.data_from == ()


def test_every_field_is_parsed() -> None:
    obj = _es(
        secretStoreRef={"name": "bao", "kind": "ClusterSecretStore"},
        refreshInterval="1h30m",
        refreshPolicy="OnChange",
        target={
            "name": "db-secret",
            "creationPolicy": "Orphan",
            "deletionPolicy": "Delete",
            "immutable": True,
            "template": {
                "type": "kubernetes.io/basic-auth",
                "engineVersion": "v2",
                "metadata": {"labels": {"app": "shop"}, "annotations": {"team": "a"}},
                "mergePolicy": "Merge",
                "data": {"username": "{{ .user }}", "dsn": "postgres://{{ .password }}@db"},
            },
        },
        data=[
            {
                "secretKey": "password",
                "remoteRef": {
                    "key": "db/creds",
                    "property": "password",
                    "version": "3",
                    "decodingStrategy": "Base64",
                },
            }
        ],
        dataFrom=[
            {"extract": {"key": "db/extra", "decodingStrategy": "Auto"}},
            {
                "find": {
                    "path": "shop/",
                    "name": {"regexp": "^db-"},
                    "decodingStrategy": "Base64URL",
                }
            },
        ],
    )
    spec = parse_external_secret(obj)
    assert spec.store_ref == StoreRef("bao", StoreKind.CLUSTER_SECRET_STORE)
    assert spec.refresh_interval == timedelta(hours=1, minutes=30)
    assert spec.refresh_policy is RefreshPolicy.ON_CHANGE
    target = spec.target
    assert (target.name, target.creation_policy, target.deletion_policy, target.immutable) == (
        "db-secret",
        CreationPolicy.ORPHAN,
        DeletionPolicy.DELETE,
        True,
    )
    template = target.template
    assert template is not None
    assert template.type == "kubernetes.io/basic-auth"
    assert dict(template.labels) == {"app": "shop"}
    assert dict(template.annotations) == {"team": "a"}
    assert template.merge_policy is MergePolicy.MERGE
    assert dict(template.data) == {
        "username": "{{ .user }}",
        "dsn": "postgres://{{ .password }}@db",
    }
    assert spec.data == (
        DataItem("password", RemoteRefSpec("db/creds", "password", "3", DecodingStrategy.BASE64)),
    )
    assert spec.data_from == (
        DataFromItem(extract=RemoteRefSpec("db/extra", decoding=DecodingStrategy.AUTO)),
        DataFromItem(find=FindSpec("shop/", "^db-", DecodingStrategy.BASE64URL)),
    )


def test_the_parsed_spec_is_frozen_and_does_not_alias_the_input() -> None:
    obj = _es(target={"template": {"data": {"a": "x"}}})
    spec = parse_external_secret(obj)
    obj["spec"]["target"]["template"]["data"]["a"] = "changed"
    assert spec.target.template is not None
    assert dict(spec.target.template.data) == {"a": "x"}
    with pytest.raises(TypeError):
        spec.target.template.data["a"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("15s", timedelta(seconds=15)),
        ("1m30s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("500ms", timedelta(milliseconds=500)),
    ],
)
def test_refresh_interval_is_a_go_duration(text: str, expected: timedelta) -> None:
    assert parse_external_secret(_es(refreshInterval=text)).refresh_interval == expected


@pytest.mark.parametrize("policy", list(RefreshPolicy))
def test_each_refresh_policy(policy: RefreshPolicy) -> None:
    assert parse_external_secret(_es(refreshPolicy=policy.value)).refresh_policy is policy


ALLOWED_POLICY_PAIRS = [
    (creation, deletion)
    for creation in CreationPolicy
    for deletion in DeletionPolicy
    if not (
        (
            deletion is DeletionPolicy.DELETE
            and creation in (CreationPolicy.MERGE, CreationPolicy.NONE)
        )
        or (deletion is DeletionPolicy.MERGE and creation is CreationPolicy.NONE)
    )
]


@pytest.mark.parametrize(("creation", "deletion"), ALLOWED_POLICY_PAIRS)
def test_allowed_policy_combinations(creation: CreationPolicy, deletion: DeletionPolicy) -> None:
    target = {"creationPolicy": creation.value, "deletionPolicy": deletion.value}
    spec = parse_external_secret(_es(target=target)).target
    assert (spec.creation_policy, spec.deletion_policy) == (creation, deletion)


@pytest.mark.parametrize(
    ("creation", "deletion", "valid"),
    [
        ("Merge", "Delete", "Retain, Merge"),
        ("None", "Delete", "Retain"),
        ("None", "Merge", "Retain"),
    ],
)
def test_forbidden_policy_combinations(creation: str, deletion: str, valid: str) -> None:
    issues = _issues(_es(target={"creationPolicy": creation, "deletionPolicy": deletion}))
    assert issues == [
        f"spec.target.deletionPolicy: {deletion} cannot go with creationPolicy {creation} "
        f"(with {creation}: {valid})"
    ]


def test_eso_defaults_written_out_are_accepted() -> None:
    """What ESO's own CRD fills in (objects created under it) means the same here."""
    ref = {
        "key": "k",
        "conversionStrategy": "Default",
        "metadataPolicy": "None",
        "nullBytePolicy": "Ignore",
        "decodingStrategy": "None",
    }
    obj = _es(
        data=[{"secretKey": "a", "remoteRef": ref}],
        target={"template": {"engineVersion": "v2", "mergePolicy": "Replace"}},
    )
    assert parse_external_secret(obj).data[0].remote_ref == RemoteRefSpec("k")


_STORE_REF_REQUIRED = (
    "spec.secretStoreRef: required (name and kind of a SecretStore or ClusterSecretStore)"
)
SPEC_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("store ref missing", {"secretStoreRef": None}, _STORE_REF_REQUIRED),
    (
        "store name missing",
        {"secretStoreRef": {"kind": "SecretStore"}},
        "spec.secretStoreRef.name: required",
    ),
    (
        "store kind wrong",
        {"secretStoreRef": {"name": "v", "kind": "Vault"}},
        "spec.secretStoreRef.kind: must be one of SecretStore, ClusterSecretStore, not 'Vault'",
    ),
    (
        "interval not a duration",
        {"refreshInterval": "an hour"},
        'spec.refreshInterval: must be a Go duration such as "1h", "15m", "1h30m" or "0", '
        "not 'an hour'",
    ),
    (
        "interval negative",
        {"refreshInterval": "-1m"},
        "spec.refreshInterval: must be at least 0, not '-1m'",
    ),
    (
        "interval a number",
        {"refreshInterval": 60},
        'spec.refreshInterval: must be a Go duration such as "1h", "15m", "1h30m" or "0", '
        "not a number",
    ),
    (
        "refresh policy",
        {"refreshPolicy": "Always"},
        "spec.refreshPolicy: must be one of Periodic, OnChange, CreatedOnce, not 'Always'",
    ),
    ("no data", {"data": []}, "spec: needs data or dataFrom (at least one entry)"),
    ("data not a list", {"data": {"a": 1}}, "spec.data: must be a list, not a mapping"),
    ("data item not a mapping", {"data": ["a"]}, "spec.data[0]: must be a mapping, not a string"),
    (
        "secretKey missing",
        {"data": [{"remoteRef": {"key": "k"}}]},
        "spec.data[0].secretKey: required",
    ),
    (
        "secretKey invalid",
        {"data": [{"secretKey": "a/b", "remoteRef": {"key": "k"}}]},
        "spec.data[0].secretKey: must consist of letters, digits, '-', '_' or '.'",
    ),
    ("remoteRef missing", {"data": [{"secretKey": "a"}]}, "spec.data[0].remoteRef: required"),
    (
        "remote key missing",
        {"data": [{"secretKey": "a", "remoteRef": {"property": "p"}}]},
        "spec.data[0].remoteRef.key: required",
    ),
    (
        "remote key empty",
        {"data": [{"secretKey": "a", "remoteRef": {"key": ""}}]},
        "spec.data[0].remoteRef.key: required (must not be empty)",
    ),
    (
        "decoding strategy",
        {"data": [{"secretKey": "a", "remoteRef": {"key": "k", "decodingStrategy": "Hex"}}]},
        "spec.data[0].remoteRef.decodingStrategy: must be one of None, Base64, Base64URL, Auto, "
        "not 'Hex'",
    ),
    (
        "metadataPolicy Fetch",
        {"data": [{"secretKey": "a", "remoteRef": {"key": "k", "metadataPolicy": "Fetch"}}]},
        "spec.data[0].remoteRef.metadataPolicy: only None is supported by Sealbox, not 'Fetch'",
    ),
    (
        "conversionStrategy Unicode",
        {"data": [{"secretKey": "a", "remoteRef": {"key": "k", "conversionStrategy": "Unicode"}}]},
        "spec.data[0].remoteRef.conversionStrategy: only Default is supported by Sealbox, "
        "not 'Unicode'",
    ),
    (
        "sourceRef",
        {"data": [{"secretKey": "a", "remoteRef": {"key": "k"}, "sourceRef": {}}]},
        "spec.data[0].sourceRef: not supported (supported here: remoteRef, secretKey)",
    ),
    (
        "dataFrom neither",
        {"data": None, "dataFrom": [{}]},
        "spec.dataFrom[0]: needs exactly one of extract or find",
    ),
    (
        "dataFrom find without path or name",
        {"data": None, "dataFrom": [{"find": {"decodingStrategy": "None"}}]},
        "spec.dataFrom[0].find: needs name.regexp or path (or both)",
    ),
    (
        "dataFrom find bad regexp",
        {"data": None, "dataFrom": [{"find": {"name": {"regexp": "(unclosed"}}}]},
        "spec.dataFrom[0].find.name.regexp: not a valid regular expression "
        "(missing ), unterminated subpattern at position 0)",
    ),
    (
        "dataFrom find by tags",
        {"data": None, "dataFrom": [{"find": {"path": "p", "tags": {"team": "a"}}}]},
        "spec.dataFrom[0].find.tags: not supported (supported here: conversionStrategy, "
        "decodingStrategy, name, nullBytePolicy, path)",
    ),
    (
        "dataFrom extract without key",
        {"data": None, "dataFrom": [{"extract": {"version": "2"}}]},
        "spec.dataFrom[0].extract.key: required",
    ),
    (
        "dataFrom rewrite",
        {"dataFrom": [{"extract": {"key": "k"}, "rewrite": []}]},
        "spec.dataFrom[0].rewrite: not supported (supported here: extract, find)",
    ),
    (
        "creationPolicy CreateOrMerge",
        {"target": {"creationPolicy": "CreateOrMerge"}},
        "spec.target.creationPolicy: must be one of Owner, Orphan, Merge, None, "
        "not 'CreateOrMerge'",
    ),
    (
        "deletionPolicy",
        {"target": {"deletionPolicy": "Keep"}},
        "spec.target.deletionPolicy: must be one of Retain, Delete, Merge, not 'Keep'",
    ),
    (
        "immutable",
        {"target": {"immutable": "yes"}},
        "spec.target.immutable: must be true or false, not a string",
    ),
    (
        "manifest target",
        {"target": {"manifest": {"kind": "ConfigMap"}}},
        "spec.target.manifest: not supported (supported here: creationPolicy, deletionPolicy, "
        "immutable, name, template)",
    ),
    (
        "engine v1",
        {"target": {"template": {"engineVersion": "v1"}}},
        "spec.target.template.engineVersion: only v2 is supported by Sealbox, not 'v1'",
    ),
    (
        "mergePolicy",
        {"target": {"template": {"mergePolicy": "Append"}}},
        "spec.target.template.mergePolicy: must be one of Replace, Merge, not 'Append'",
    ),
    (
        "templateFrom",
        {"target": {"template": {"templateFrom": []}}},
        "spec.target.template.templateFrom: not supported (supported here: data, engineVersion, "
        "mergePolicy, metadata, type)",
    ),
    (
        "template data not strings",
        {"target": {"template": {"data": {"a": 1}}}},
        "spec.target.template.data.a: must be a string",
    ),
    (
        "template data key invalid",
        {"target": {"template": {"data": {"a b": "x"}}}},
        "spec.target.template.data.a b: keys must consist of letters, digits, '-', '_' or '.'",
    ),
    (
        "template finalizers",
        {"target": {"template": {"metadata": {"finalizers": ["x"]}}}},
        "spec.target.template.metadata.finalizers: not supported (supported here: annotations, "
        "labels)",
    ),
    (
        "template does not parse",
        {"target": {"template": {"data": {"dsn": "{{ .user | nosuch }}"}}}},
        'spec.target.template.data.dsn: template: dsn:1:12: function "nosuch" not defined',
    ),
    (
        "template unclosed",
        {"target": {"template": {"data": {"dsn": "x {{ .user "}}}},
        "spec.target.template.data.dsn: template: dsn:1:3: unclosed action",
    ),
    (
        "bootstrap token type",
        {"target": {"template": {"type": "bootstrap.kubernetes.io/token"}}},
        "spec.target.template.type: bootstrap.kubernetes.io/token is not allowed",
    ),
    (
        "syncWindows",
        {"syncWindows": {}},
        "spec.syncWindows: not supported (supported here: data, dataFrom, refreshInterval, "
        "refreshPolicy, secretStoreRef, target)",
    ),
    ("target not a mapping", {"target": "db"}, "spec.target: must be a mapping, not a string"),
]


@pytest.mark.parametrize(
    ("change", "message"), [case[1:] for case in SPEC_ERRORS], ids=[case[0] for case in SPEC_ERRORS]
)
def test_each_error_names_its_field(change: dict[str, Any], message: str) -> None:
    obj = _es()
    for key, value in change.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    assert _issues(obj) == [message]


def test_every_problem_is_listed_at_once() -> None:
    obj = _es(
        refreshPolicy="Sometimes",
        data=[
            {"secretKey": "a", "remoteRef": {"key": "k"}},
            {"secretKey": "b", "remoteRef": {"key": "k"}},
            {"secretKey": "c", "remoteRef": {"property": "p"}},
        ],
        target={"creationPolicy": "None", "deletionPolicy": "Delete"},
    )
    with pytest.raises(SyncSpecError) as caught:
        parse_external_secret(obj)
    error = caught.value
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    assert str(error) == (
        "ExternalSecret shop/db: 3 errors\n"
        "  spec.refreshPolicy: must be one of Periodic, OnChange, CreatedOnce, not 'Sometimes'\n"
        "  spec.target.deletionPolicy: Delete cannot go with creationPolicy None "
        "(with None: Retain)\n"
        "  spec.data[2].remoteRef.key: required"
    )


def test_one_problem_is_one_line_naming_the_object() -> None:
    obj = _es()
    obj["spec"]["data"][0]["remoteRef"] = {}
    with pytest.raises(
        SyncSpecError, match=r"^ExternalSecret shop/db: spec\.data\[0\]\.remoteRef\.key: required$"
    ):
        parse_external_secret(obj)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (None, "ExternalSecret: spec: required"),
        ([], "ExternalSecret: must be a mapping, not a list"),
        ({"metadata": {"name": "x"}}, "ExternalSecret x: spec: required"),
        (
            {"metadata": {"name": "x"}, "spec": []},
            "ExternalSecret x: spec: must be a mapping, not a list",
        ),
    ],
)
def test_no_usable_spec(obj: Any, message: str) -> None:
    with pytest.raises(SyncSpecError) as caught:
        parse_external_secret(obj)
    assert str(caught.value).startswith(message)


def test_target_name_needed_without_metadata_name() -> None:
    obj = _es()
    del obj["metadata"]["name"]
    assert "spec.target.name: required when metadata.name is not set" in _issues(obj)
    obj["spec"]["target"] = {"name": "explicit"}
    assert parse_external_secret(obj).target.name == "explicit"


def test_a_long_wrong_value_is_cut_in_the_message() -> None:
    obj = _es(refreshPolicy="x" * 500)
    (issue,) = _issues(obj)
    assert len(issue) < 150
    assert issue.endswith("...")


def test_template_text_never_appears_in_messages() -> None:
    obj = copy.deepcopy(_es(target={"template": {"data": {"k": "{{ .secret }} hunter2"}}}))
    obj["spec"]["refreshPolicy"] = "Bad"
    with pytest.raises(SyncSpecError) as caught:
        parse_external_secret(obj)
    assert "hunter2" not in str(caught.value)
