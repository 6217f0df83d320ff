"""The SealedSecret CRD in deploy/sealing is upstream's: what upstream accepts is accepted here,
what its schema refuses is refused, both checked by a real kube-apiserver.

The objects are shaped the way kubeseal writes them (every scope, template metadata, ``type``,
``immutable``, template data, old builds' ``creationTimestamp: null``) and the legacy ``spec.data``
form; the values are random base64, since the schema never looks inside them.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
import yaml

from sealbox.controllers.sealing import SEALED_SECRET_API_VERSION, SEALED_SECRET_CRD
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.sealing_crd import CRD_FILE

SCOPE_ANNOTATIONS = {
    "strict": {},
    "namespace-wide": {"sealedsecrets.bitnami.com/namespace-wide": "true"},
    "cluster-wide": {"sealedsecrets.bitnami.com/cluster-wide": "true"},
}


def _value() -> str:
    """Random bytes the length of an RSA-2048 sealed value, base64 as in encryptedData."""
    return base64.b64encode(secrets.token_bytes(256 + 2 + 16 + 20)).decode()


def _crd() -> dict[str, Any]:
    document = yaml.safe_load(CRD_FILE.read_text())
    assert isinstance(document, dict)
    return document


def _sealed(namespace: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace, **meta}
    return {
        "apiVersion": SEALED_SECRET_API_VERSION,
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": spec,
    }


def _kubeseal_output(namespace: str, scope: str) -> dict[str, Any]:
    """A SealedSecret as kubeseal writes it for a Secret with labels, annotations and a type."""
    name = f"db-{scope}"
    annotations = SCOPE_ANNOTATIONS[scope]
    template_metadata = {
        "name": name,
        "namespace": namespace,
        "labels": {"app": "db"},
        "annotations": {"team": "payments", **annotations},
        "creationTimestamp": None,  # builds before v0.32.0 write it
    }
    spec = {
        "encryptedData": {"password": _value(), "username": _value()},
        "template": {
            "metadata": template_metadata,
            "type": "kubernetes.io/basic-auth",
            "immutable": True,
            "data": {"dsn": '{{ index . "username" }}:{{ .password }}@db:5432'},
        },
    }
    extra = {"annotations": annotations} if annotations else {}
    return _sealed(namespace, name, spec, creationTimestamp=None, **extra)


def test_crd_is_upstreams_v1alpha1() -> None:
    """The identity, printer columns and the schema's requirements and openness (§2.1, §2.2)."""
    crd = _crd()
    assert crd["metadata"]["name"] == SEALED_SECRET_CRD
    spec = crd["spec"]
    assert spec["group"] == "bitnami.com"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "SealedSecret",
        "listKind": "SealedSecretList",
        "plural": "sealedsecrets",
        "singular": "sealedsecret",
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert f"{spec['group']}/{version['name']}" == SEALED_SECRET_API_VERSION
    assert version["subresources"] == {"status": {}}
    assert [(c["name"], c["jsonPath"], c["type"]) for c in version["additionalPrinterColumns"]] == [
        ("Status", ".status.conditions[0].message", "string"),
        ("Synced", ".status.conditions[0].status", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    ]
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["required"] == ["spec"]
    sealed = schema["properties"]["spec"]
    assert sealed["required"] == ["encryptedData"]
    encrypted = sealed["properties"]["encryptedData"]
    assert encrypted["x-kubernetes-preserve-unknown-fields"] is True
    assert encrypted["additionalProperties"] == {"type": "string"}
    assert sealed["properties"]["data"] == {
        "description": sealed["properties"]["data"]["description"],
        "format": "byte",
        "type": "string",
    }
    template = sealed["properties"]["template"]["properties"]
    assert template["metadata"]["x-kubernetes-preserve-unknown-fields"] is True
    assert template["metadata"]["nullable"] is True
    assert template["data"]["nullable"] is True
    assert template["immutable"]["type"] == "boolean"
    condition = schema["properties"]["status"]["properties"]["conditions"]["items"]
    assert condition["required"] == ["status", "type"]
    assert set(condition["properties"]) == {
        "lastTransitionTime",
        "lastUpdateTime",
        "message",
        "reason",
        "status",
        "type",
    }


@pytest.mark.integration
@pytest.mark.parametrize("scope", SCOPE_ANNOTATIONS)
def test_server_accepts_what_kubeseal_writes(
    scope: str, sealed_secret_crd: KubeApiserver, kube_namespace: str
) -> None:
    sealed = _kubeseal_output(kube_namespace, scope)
    result = sealed_secret_crd.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(sealed))
    stored = json.loads(result.stdout)
    # Nothing was pruned or changed, not even the null creationTimestamp in template metadata
    # (x-kubernetes-preserve-unknown-fields keeps what the schema does not list).
    assert stored["spec"] == sealed["spec"]
    assert stored["metadata"].get("annotations", {}) == SCOPE_ANNOTATIONS[scope]


@pytest.mark.integration
def test_server_accepts_the_legacy_and_minimal_forms(
    sealed_secret_crd: KubeApiserver, kube_namespace: str
) -> None:
    legacy_blob = base64.b64encode(secrets.token_bytes(300)).decode()
    objects = [
        # v1 format: the whole Secret in spec.data, encryptedData present but empty.
        _sealed(kube_namespace, "legacy", {"data": legacy_blob, "encryptedData": {}}),
        # Only templates, no encrypted items (upstream's TestTemplateWithoutEncryptedData).
        _sealed(
            kube_namespace,
            "template-only",
            {"encryptedData": {}, "template": {"data": {"greeting": "hello"}}},
        ),
        # Nulls where upstream's Go types marshal them (nullable in the schema).
        _sealed(
            kube_namespace,
            "nulls",
            {"encryptedData": {"a": _value()}, "template": {"metadata": None, "data": None}},
        ),
        # A template metadata field the schema does not list is kept, not refused.
        _sealed(
            kube_namespace,
            "finalizers",
            {
                "encryptedData": {"a": _value()},
                "template": {"metadata": {"finalizers": ["example.com/keep"], "generateName": "x"}},
            },
        ),
    ]
    for sealed in objects:
        sealed_secret_crd.kubectl("create", "-f", "-", stdin=json.dumps(sealed))
    result = sealed_secret_crd.kubectl("get", "sealedsecrets", "-n", kube_namespace, "-o", "json")
    stored = {o["metadata"]["name"]: o["spec"] for o in json.loads(result.stdout)["items"]}
    assert stored["legacy"] == {"data": legacy_blob, "encryptedData": {}}
    assert stored["finalizers"]["template"]["metadata"]["generateName"] == "x"


BREAKERS: dict[str, tuple[dict[str, Any] | None, str]] = {
    "no spec": (None, "spec: Required value"),
    "no encryptedData": ({"template": {"type": "Opaque"}}, "spec.encryptedData: Required value"),
    "encryptedData null": ({"encryptedData": None}, "spec.encryptedData: Required value"),
    "encryptedData a string": ({"encryptedData": "abc"}, "must be of type object"),
    "a non-string value": ({"encryptedData": {"a": 1}}, "must be of type string"),
    "spec.data not base64": ({"encryptedData": {}, "data": "not base64!"}, "type byte"),
    "template type a number": (
        {"encryptedData": {}, "template": {"type": 5}},
        "spec.template.type in body must be of type string",
    ),
    "template immutable a string": (
        {"encryptedData": {}, "template": {"immutable": "yes"}},
        "must be of type boolean",
    ),
    "an unknown spec field": ({"encryptedData": {}, "encrypted": {}}, 'unknown field "spec.'),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", BREAKERS)
def test_server_refuses_what_the_schema_forbids(
    case: str, sealed_secret_crd: KubeApiserver, kube_namespace: str
) -> None:
    spec, error = BREAKERS[case]
    sealed = _sealed(kube_namespace, "broken", spec or {})
    if spec is None:
        del sealed["spec"]
    result = sealed_secret_crd.kubectl("create", "-f", "-", stdin=json.dumps(sealed), check=False)
    assert result.returncode != 0, result.stdout
    assert error in result.stderr, result.stderr


@pytest.mark.integration
def test_printer_columns_show_the_synced_condition(
    sealed_secret_crd: KubeApiserver, kube_namespace: str
) -> None:
    """What `kubectl get sealedsecrets` shows once the controller wrote status (and that status
    is a subresource: a write to the object itself does not set it)."""
    sealed = _sealed(kube_namespace, "shown", {"encryptedData": {"a": _value()}})
    sealed["status"] = {"conditions": [{"type": "Synced", "status": "True"}]}
    result = sealed_secret_crd.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(sealed))
    created = json.loads(result.stdout)
    assert "status" not in created
    condition = {
        "type": "Synced",
        "status": "False",
        "reason": "NoMatchingKey",
        "message": "no key could decrypt item a",
    }
    sealed_secret_crd.kubectl(
        "patch",
        "sealedsecret",
        "shown",
        "-n",
        kube_namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"conditions": [condition], "observedGeneration": 1}}),
    )
    table = sealed_secret_crd.kubectl("get", "sealedsecrets", "-n", kube_namespace).stdout
    header, row = table.splitlines()
    assert header.split() == ["NAME", "STATUS", "SYNCED", "AGE"]
    assert row.startswith("shown")
    assert "no key could decrypt item a" in row
    assert row.split()[-2] == "False"
