"""The external-secrets.io/v1 CRDs in deploy/sync: ESO's names, kinds and printer columns, no
defaults that rewrite what users wrote, small enough for client-side apply, and a real
kube-apiserver that accepts ESO-style manifests unchanged and refuses, with each rule's own
message, what can be judged from the object alone. The controller's own reading of a spec
(:mod:`sealbox.sync`) is held to the same verdicts, so the two never disagree on an object.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from sealbox.controllers.sync import EXTERNAL_SECRETS_API_VERSION, SYNC_CRDS
from sealbox.duration import parse_go_duration
from sealbox.sync import SyncSpecError, parse_external_secret, parse_store
from tests.deploy.manifests import DEPLOY
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.sync_crds import SYNC_CRD_FILES

EXAMPLES = DEPLOY / "sync" / "examples"
# kubectl apply (client-side) keeps the whole object in this annotation; the apiserver refuses
# annotations over 256 KiB in total (ESO's ~700 KB store CRDs need --server-side).
ANNOTATION_LIMIT = 256 * 1024

NAMES = {
    "ExternalSecret": ("externalsecrets", "externalsecret", ["es"], "Namespaced"),
    "SecretStore": ("secretstores", "secretstore", ["ss"], "Namespaced"),
    "ClusterSecretStore": ("clustersecretstores", "clustersecretstore", ["css"], "Cluster"),
}
READY = '.status.conditions[?(@.type=="Ready")]'
PRINTER_COLUMNS = {
    "ExternalSecret": [
        ("StoreType", "string", ".spec.secretStoreRef.kind"),
        ("Store", "string", ".spec.secretStoreRef.name"),
        ("Refresh Interval", "string", ".spec.refreshInterval"),
        ("Status", "string", f"{READY}.reason"),
        ("Ready", "string", f"{READY}.status"),
        ("Last Sync", "date", ".status.refreshTime"),
    ],
    "SecretStore": [
        ("AGE", "date", ".metadata.creationTimestamp"),
        ("Status", "string", f"{READY}.reason"),
        ("Capabilities", "string", ".status.capabilities"),
        ("Ready", "string", f"{READY}.status"),
    ],
}
PRINTER_COLUMNS["ClusterSecretStore"] = PRINTER_COLUMNS["SecretStore"]


def _crd(kind: str) -> dict[str, Any]:
    document = yaml.safe_load(SYNC_CRD_FILES[SYNC_CRDS[kind]].read_text())
    assert isinstance(document, dict)
    return document


def _schema(kind: str) -> dict[str, Any]:
    (version,) = _crd(kind)["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _nodes(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under ``schema`` with its path."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", NAMES)
def test_names_scope_and_columns_are_esos(kind: str) -> None:
    crd = _crd(kind)
    plural, singular, short, scope = NAMES[kind]
    assert crd["metadata"]["name"] == SYNC_CRDS[kind] == f"{plural}.external-secrets.io"
    spec = crd["spec"]
    assert spec["group"] == "external-secrets.io"
    assert spec["scope"] == scope
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
        "shortNames": short,
        "categories": ["external-secrets"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
    assert f"{spec['group']}/{version['name']}" == EXTERNAL_SECRETS_API_VERSION
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == PRINTER_COLUMNS[kind]


@pytest.mark.parametrize("kind", NAMES)
def test_no_defaults_mutate_what_users_wrote(kind: str) -> None:
    """ESO #5895: a default the apiserver writes into spec is drift to every GitOps tool."""
    defaulted = [path for path, node in _nodes(_schema(kind)) if "default" in node]
    assert defaulted == []


@pytest.mark.parametrize("kind", NAMES)
def test_small_enough_for_client_side_apply(kind: str) -> None:
    """The last-applied-configuration annotation kubectl writes holds the compact JSON object."""
    size = len(json.dumps(_crd(kind), separators=(",", ":")).encode())
    assert size < ANNOTATION_LIMIT // 8, size  # a wide margin: about 10 KB each today


def test_cluster_store_is_the_store_plus_conditions() -> None:
    store, cluster = _schema("SecretStore"), _schema("ClusterSecretStore")
    cluster_spec = copy.deepcopy(cluster["properties"]["spec"])
    conditions = cluster_spec["properties"].pop("conditions")
    assert cluster_spec == store["properties"]["spec"]
    assert cluster["properties"]["status"] == store["properties"]["status"]
    admit = conditions["items"]["properties"]
    assert set(admit) == {"namespaceSelector", "namespaces", "namespaceRegexes"}


def test_providers_are_the_supported_subset() -> None:
    provider = _schema("SecretStore")["properties"]["spec"]["properties"]["provider"]
    assert set(provider["properties"]) == {"vault", "aws", "kubernetes"}
    aws = provider["properties"]["aws"]["properties"]
    assert aws["service"]["enum"] == ["SecretsManager"]
    vault = provider["properties"]["vault"]["properties"]
    assert set(vault["auth"]["properties"]) == {"tokenSecretRef", "appRole", "kubernetes"}
    assert vault["version"]["enum"] == ["v1", "v2"]


def _examples(name: str, namespace: str, suffix: str) -> list[dict[str, Any]]:
    objects = [o for o in yaml.safe_load_all((EXAMPLES / name).read_text()) if o]
    for obj in objects:
        if obj["kind"] == "ClusterSecretStore":
            obj["metadata"]["name"] += f"-{suffix}"
        else:
            obj["metadata"]["namespace"] = namespace
    return objects


@pytest.mark.integration
@pytest.mark.parametrize("name", ["stores.yaml", "externalsecrets.yaml"])
def test_server_accepts_eso_manifests_unchanged(
    name: str, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    """Created with kubectl's strict field validation: no field is unknown, none is pruned, and
    nothing is added to spec."""
    objects = _examples(name, kube_namespace, kube_namespace)
    stored = [
        json.loads(sync_crds.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(o)).stdout)
        for o in objects
    ]
    assert [o["spec"] for o in stored] == [o["spec"] for o in objects]
    assert len(stored) >= 3


def _es(namespace: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "secretStoreRef": {"name": "vault"},
        "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "pw"}}],
    }
    base.update(spec)
    return {
        "apiVersion": EXTERNAL_SECRETS_API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": "broken", "namespace": namespace},
        "spec": {k: v for k, v in base.items() if v is not None},
    }


def _store(namespace: str, provider: dict[str, Any], kind: str = "SecretStore") -> dict[str, Any]:
    metadata = {"name": f"broken-{secrets.token_hex(4)}"}
    if kind == "SecretStore":
        metadata["namespace"] = namespace
    return {
        "apiVersion": EXTERNAL_SECRETS_API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": {"provider": provider},
    }


TOKEN = {"tokenSecretRef": {"name": "vault-token", "key": "token"}}
VAULT = {"server": "https://vault:8200", "auth": TOKEN}
AWS = {"service": "SecretsManager", "region": "eu-west-1"}
KUBE = {"authRef": {"name": "kubeconfig"}}
APPROLE_SECRET = {"name": "approle", "key": "secret-id"}


def _data(**ref: Any) -> list[dict[str, Any]]:
    return [{"secretKey": "a", "remoteRef": ref}]


# (what, the ExternalSecret spec changes, a part of the message the apiserver returns)
ES_REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "Delete with Merge": (
        {"target": {"creationPolicy": "Merge", "deletionPolicy": "Delete"}},
        "deletionPolicy Delete cannot be used with creationPolicy Merge or None",
    ),
    "Delete with None": (
        {"target": {"creationPolicy": "None", "deletionPolicy": "Delete"}},
        "deletionPolicy Delete cannot be used with creationPolicy Merge or None",
    ),
    "Merge with None": (
        {"target": {"creationPolicy": "None", "deletionPolicy": "Merge"}},
        "deletionPolicy Merge cannot be used with creationPolicy None",
    ),
    "engine v1": (
        {"target": {"template": {"engineVersion": "v1"}}},
        "engineVersion must be v2",
    ),
    "bootstrap token type": (
        {"target": {"template": {"type": "bootstrap.kubernetes.io/token"}}},
        "bootstrap.kubernetes.io/token is not allowed",
    ),
    "refreshInterval in days": (
        {"refreshInterval": "1d"},
        "refreshInterval must be a duration such as 1h, 30m, 1h30m or 0",
    ),
    "refreshInterval a word": (
        {"refreshInterval": "hourly"},
        "refreshInterval must be a duration",
    ),
    "no data": ({"data": None}, "either data or dataFrom should be specified"),
    "data empty": ({"data": []}, "either data or dataFrom should be specified"),
    "data without secretKey": (
        {"data": [{"remoteRef": {"key": "db"}}]},
        "spec.data[0].secretKey: Required value",
    ),
    "data without remoteRef.key": (
        {"data": _data(property="pw")},
        "spec.data[0].remoteRef.key: Required value",
    ),
    "data with an empty remoteRef.key": (
        {"data": _data(key="")},
        "spec.data[0].remoteRef.key: Invalid value",
    ),
    "dataFrom with extract and find": (
        {"dataFrom": [{"extract": {"key": "db"}, "find": {"path": "apps"}}]},
        "a dataFrom entry needs exactly one of extract or find",
    ),
    "dataFrom with neither": (
        {"dataFrom": [{}]},
        "a dataFrom entry needs exactly one of extract or find",
    ),
    "find with nothing to find": (
        {"dataFrom": [{"find": {"name": {}}}]},
        "find needs name.regexp or path",
    ),
    "no secretStoreRef": ({"secretStoreRef": None}, "spec.secretStoreRef: Required value"),
    "CreateOrMerge (not in the subset)": (
        {"target": {"creationPolicy": "CreateOrMerge"}},
        'Unsupported value: "CreateOrMerge"',
    ),
    "a secretKey with a slash": (
        {"data": [{"secretKey": "a/b", "remoteRef": {"key": "db"}}]},
        "spec.data[0].secretKey in body should match",
    ),
    "conversionStrategy Unicode (not in the subset)": (
        {"data": _data(key="db", conversionStrategy="Unicode")},
        'Unsupported value: "Unicode"',
    ),
    "a generator (not in the subset)": (
        {"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]},
        'unknown field "spec.dataFrom[0].sourceRef"',
    ),
}


def _refused(server: KubeApiserver, obj: dict[str, Any]) -> str:
    result = server.kubectl("create", "-f", "-", stdin=json.dumps(obj), check=False)
    assert result.returncode != 0, result.stdout
    return result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("case", ES_REFUSED)
def test_server_refuses_a_bad_external_secret(
    case: str, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    spec, message = ES_REFUSED[case]
    assert message in _refused(sync_crds, _es(kube_namespace, **spec))


# (what, the provider block, a part of the message)
STORE_REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "no provider": ({}, "exactly one provider must be set (vault, aws or kubernetes)"),
    "two providers": ({"vault": VAULT, "aws": AWS}, "exactly one provider must be set"),
    "an unsupported provider": (
        {"gcpsm": {"projectID": "p"}},
        'unknown field "spec.provider.gcpsm"',
    ),
    "vault without auth": ({"vault": {"server": "https://vault:8200"}}, "auth: Required value"),
    "vault with two auth methods": (
        {"vault": {**VAULT, "auth": {**TOKEN, "kubernetes": {"role": "r"}}}},
        "exactly one vault auth method must be set",
    ),
    "vault with no auth method": (
        {"vault": {**VAULT, "auth": {}}},
        "exactly one vault auth method must be set",
    ),
    "appRole without roleId": (
        {"vault": {**VAULT, "auth": {"appRole": {"secretRef": APPROLE_SECRET}}}},
        "roleId: Required value",
    ),
    "an AWS endpoint that is no URL": (
        {"aws": {**AWS, "endpointURL": "localhost:5000"}},
        "endpointURL must be an http(s) URL such as https://host:443",
    ),
    "vault KV v3": ({"vault": {**VAULT, "version": "v3"}}, 'Unsupported value: "v3"'),
    "aws ParameterStore (not in the subset)": (
        {"aws": {**AWS, "service": "ParameterStore"}},
        'Unsupported value: "ParameterStore"',
    ),
    "kubernetes with auth and authRef": (
        {"kubernetes": {**KUBE, "auth": {"serviceAccount": {"name": "reader"}}}},
        "kubernetes needs exactly one of auth or authRef",
    ),
    "kubernetes with neither": (
        {"kubernetes": {"remoteNamespace": "shared"}},
        "kubernetes needs exactly one of auth or authRef",
    ),
    "kubernetes with two auth methods": (
        {
            "kubernetes": {
                "auth": {
                    "serviceAccount": {"name": "reader"},
                    "token": {"bearerToken": {"name": "t", "key": "token"}},
                }
            }
        },
        "exactly one kubernetes auth method must be set",
    ),
}


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["SecretStore", "ClusterSecretStore"])
@pytest.mark.parametrize("case", STORE_REFUSED)
def test_server_refuses_a_bad_store(
    case: str, kind: str, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    provider, message = STORE_REFUSED[case]
    assert message in _refused(sync_crds, _store(kube_namespace, provider, kind))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("interval", "accepted"),
    [(300, True), ("5m", True), ("0", True), (0, True), (-1, False), ("5 minutes", False)],
)
def test_store_refresh_interval_is_seconds_or_a_duration(
    interval: int | str, accepted: bool, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    store = _store(kube_namespace, {"aws": AWS})
    store["spec"]["refreshInterval"] = interval
    result = sync_crds.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(store), check=False
    )
    assert (result.returncode == 0) is accepted, result.stderr
    if not accepted:
        assert "refreshInterval must be a number of seconds or a duration" in result.stderr


@pytest.mark.integration
def test_printer_columns_and_short_names(sync_crds: KubeApiserver, kube_namespace: str) -> None:
    """What `kubectl get es` shows once the controller wrote status, which only the status
    subresource takes."""
    es = _es(kube_namespace, refreshInterval="15m")
    es["metadata"]["name"] = "shown"
    es["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    created = json.loads(
        sync_crds.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(es)).stdout
    )
    assert "status" not in created
    status = {
        "refreshTime": "2026-01-01T00:00:00Z",
        "syncedResourceVersion": "1-0123456789abcdef",
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "SecretSyncedError",
                "message": "could not get secret data from provider",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    sync_crds.kubectl(
        "patch",
        "es",
        "shown",
        "-n",
        kube_namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    header, row = sync_crds.kubectl("get", "es", "-n", kube_namespace).stdout.splitlines()
    assert header.split() == [
        "NAME", "STORETYPE", "STORE", "REFRESH", "INTERVAL", "STATUS", "READY", "LAST", "SYNC",
    ]  # fmt: skip
    assert row.split()[:5] == ["shown", "vault", "15m", "SecretSyncedError", "False"]
    for short in ("ss", "css"):
        sync_crds.kubectl("get", short, "-A")


@pytest.mark.integration
def test_unsupported_fields_are_not_dropped_silently(
    sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    """A client that turns field validation off gets unknown fields pruned, not refused; the CEL
    rules still refuse what pruning would leave: a store with no provider, an empty dataFrom."""
    store = _store(kube_namespace, {"gcpsm": {"projectID": "p"}})
    es = _es(kube_namespace, data=None, dataFrom=[{"sourceRef": {"storeRef": {"name": "x"}}}])
    for obj, message in [
        (store, "exactly one provider must be set"),
        (es, "a dataFrom entry needs exactly one of extract or find"),
    ]:
        result = sync_crds.kubectl(
            "create", "--validate=false", "-f", "-", stdin=json.dumps(obj), check=False
        )
        assert result.returncode != 0, result.stdout
        assert message in result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("kind", NAMES)
def test_client_side_apply_annotation_fits(kind: str, sync_crds: KubeApiserver) -> None:
    """``sync_crds`` applied the files client-side; what kubectl stored is within the limit."""
    result = sync_crds.kubectl("get", "crd", SYNC_CRDS[kind], "-o", "json")
    annotations = json.loads(result.stdout)["metadata"]["annotations"]
    applied = annotations["kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(applied)["spec"] == _crd(kind)["spec"]
    assert sum(len(k) + len(v.encode()) for k, v in annotations.items()) < ANNOTATION_LIMIT // 8


CREATION = ["Owner", "Orphan", "Merge", "None"]
DELETION = ["Retain", "Delete", "Merge"]
# ESO's forbidden pairs (its webhook's validatePolicies), CreateOrMerge aside (not in the subset).
FORBIDDEN = {("Merge", "Delete"), ("None", "Delete"), ("None", "Merge")}


@pytest.mark.integration
@pytest.mark.parametrize("creation", CREATION)
@pytest.mark.parametrize("deletion", DELETION)
def test_policy_pairs_are_esos(
    creation: str, deletion: str, sync_crds: KubeApiserver, kube_namespace: str
) -> None:
    es = _es(kube_namespace, target={"creationPolicy": creation, "deletionPolicy": deletion})
    result = sync_crds.kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(es), check=False
    )
    forbidden = (creation, deletion) in FORBIDDEN
    assert (result.returncode != 0) is forbidden, result.stderr
    try:
        parse_external_secret(es)
    except SyncSpecError:
        assert forbidden
    else:
        assert not forbidden


def _duration_rule(kind: str, path: str) -> re.Pattern[str]:
    """The regular expression of the CEL ``matches`` rule at ``path`` (as Python reads it)."""
    node = _schema(kind)
    for part in path.split("."):
        node = node["properties"][part]
    (rule,) = [r["rule"] for r in node["x-kubernetes-validations"]]
    literal = re.search(r"matches\('(.*)'\)", rule)
    assert literal is not None, rule
    return re.compile(literal[1].replace("\\\\", "\\"))


DURATIONS = ["0", "1h", "30m", "1h30m", "1.5h", ".5h", "+5m", "300ms", "10us", "10µs", "10μs"]
DURATIONS += ["1ns", "2h45m30.5s", "1d", "1 h", "h", "5", "-5m", "1H", "", "1h ", "1w", "0s"]


@pytest.mark.parametrize(
    ("kind", "path"),
    [("ExternalSecret", "spec.refreshInterval"), ("SecretStore", "spec.refreshInterval")],
)
def test_duration_rule_agrees_with_the_controller(kind: str, path: str) -> None:
    """What the CRD lets through is what the controller parses (sealbox.duration): a duration
    the apiserver accepts never fails later as a status reason, and the reverse."""
    pattern = _duration_rule(kind, path)
    for text in DURATIONS:
        try:
            parsed = parse_go_duration(text) >= 0
        except ValueError:
            parsed = False
        assert (pattern.fullmatch(text) is not None) is parsed, text


@pytest.mark.parametrize("name", ["stores.yaml", "externalsecrets.yaml"])
def test_examples_parse_as_the_controller_reads_them(name: str) -> None:
    for obj in _examples(name, "apps", "x"):
        if obj["kind"] == "ExternalSecret":
            parse_external_secret(obj)
        else:
            parse_store(obj)


@pytest.mark.parametrize("case", ES_REFUSED)
def test_controller_refuses_what_the_crd_refuses(case: str) -> None:
    """The CRD and sealbox.sync judge an object alike, so an object stored before the CRD
    changed (or through a client without field validation) is not quietly read another way."""
    spec, _ = ES_REFUSED[case]
    with pytest.raises(SyncSpecError):
        parse_external_secret(_es("apps", **spec))


@pytest.mark.parametrize("kind", ["SecretStore", "ClusterSecretStore"])
@pytest.mark.parametrize("case", STORE_REFUSED)
def test_controller_refuses_the_stores_the_crd_refuses(case: str, kind: str) -> None:
    provider, _ = STORE_REFUSED[case]
    with pytest.raises(SyncSpecError):
        parse_store(_store("apps", provider, kind))
