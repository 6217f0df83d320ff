"""A SealedSecret from a Secret manifest is kubeseal's: every scope opens under its label, the
template keeps what the controller copies back and drops what leaks, and input that cannot be
sealed is refused with the field named and no value shown."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import NoMatchingKey, SealError
from sealbox.sealing import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
    decode_value,
    label_for,
    seal_raw,
    seal_secret,
    unseal,
)

PLAIN = "pl41n-s3cr3t-value"


def _secret(**extra: Any) -> dict[str, Any]:
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "prod"},
        "type": "Opaque",
        "data": {"password": base64.b64encode(PLAIN.encode()).decode()},
        "stringData": {"user": "admin"},
    }
    secret.update(extra)
    return secret


@pytest.fixture
def key(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> rsa.RSAPrivateKey:
    return rsa_keys[2048]


def _open(key: rsa.RSAPrivateKey, sealed: dict[str, Any], scope: Scope) -> dict[str, bytes]:
    meta = sealed["metadata"]
    label = label_for(scope, meta.get("namespace", ""), meta["name"])
    return {
        item: unseal([key], decode_value(text, item), label)
        for item, text in sealed["spec"]["encryptedData"].items()
    }


@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
def test_each_scope_opens_under_its_own_label_only(key: rsa.RSAPrivateKey, scope: Scope) -> None:
    sealed = seal_secret(_secret(), key.public_key(), scope=scope)
    assert _open(key, sealed, scope) == {"password": PLAIN.encode(), "user": b"admin"}
    outer = {
        Scope.STRICT: None,
        Scope.NAMESPACE_WIDE: {NAMESPACE_WIDE_ANNOTATION: "true"},
        Scope.CLUSTER_WIDE: {CLUSTER_WIDE_ANNOTATION: "true"},
    }[scope]
    assert sealed["metadata"].get("annotations") == outer
    for other in set(Scope) - {scope}:
        with pytest.raises(NoMatchingKey):
            _open(key, sealed, other)


def test_the_document_has_kubeseals_shape_and_order(key: rsa.RSAPrivateKey) -> None:
    sealed = seal_secret(_secret(), key.public_key())
    assert list(sealed) == ["kind", "apiVersion", "metadata", "spec"]
    assert sealed["kind"] == "SealedSecret"
    assert sealed["apiVersion"] == "bitnami.com/v1alpha1"
    assert sealed["metadata"] == {"name": "db", "namespace": "prod"}
    assert list(sealed["spec"]) == ["template", "encryptedData"]
    assert list(sealed["spec"]["encryptedData"]) == ["password", "user"]
    assert PLAIN not in repr(sealed)


def test_the_scope_annotation_of_the_manifest_is_used(key: rsa.RSAPrivateKey) -> None:
    secret = _secret()
    secret["metadata"]["annotations"] = {NAMESPACE_WIDE_ANNOTATION: "true"}
    sealed = seal_secret(secret, key.public_key())
    assert sealed["metadata"]["annotations"] == {NAMESPACE_WIDE_ANNOTATION: "true"}
    assert _open(key, sealed, Scope.NAMESPACE_WIDE)["user"] == b"admin"
    overridden = seal_secret(secret, key.public_key(), scope=Scope.CLUSTER_WIDE)
    annotations = overridden["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {CLUSTER_WIDE_ANNOTATION: "true"}  # the old one is replaced


def test_template_carries_metadata_type_and_immutable(key: rsa.RSAPrivateKey) -> None:
    secret = _secret(type="kubernetes.io/basic-auth", immutable=True)
    secret["metadata"].update(
        labels={"team": "a", "app": "db"},
        annotations={
            "kubectl.kubernetes.io/last-applied-configuration": f'{{"p": "{PLAIN}"}}',
            "kubecfg.ksonnet.io/last-applied-configuration": PLAIN,
            "owner": "platform",
        },
        uid="1234",
        resourceVersion="42",
        creationTimestamp="2026-01-01T00:00:00Z",
        ownerReferences=[{"kind": "Thing", "name": "x"}],
        finalizers=["example.com/keep"],
    )
    template = seal_secret(secret, key.public_key())["spec"]["template"]
    assert template == {
        "metadata": {
            "name": "db",
            "namespace": "prod",
            "labels": {"app": "db", "team": "a"},
            "annotations": {"owner": "platform"},
            "finalizers": ["example.com/keep"],
        },
        "type": "kubernetes.io/basic-auth",
        "immutable": True,
    }
    assert list(template["metadata"]["labels"]) == ["app", "team"]  # Go sorts map keys


def test_immutable_false_is_carried_and_a_missing_type_is_left_out(
    key: rsa.RSAPrivateKey,
) -> None:
    secret = _secret(immutable=False)
    del secret["type"]
    template = seal_secret(secret, key.public_key())["spec"]["template"]
    assert template["immutable"] is False
    assert "type" not in template


def test_data_is_decoded_and_string_data_wins_a_shared_name(key: rsa.RSAPrivateKey) -> None:
    binary = bytes(range(256))
    secret = _secret(
        data={"blob": base64.b64encode(binary).decode(), "user": base64.b64encode(b"x").decode()},
        stringData={"user": "from-string-data"},
    )
    opened = _open(key, seal_secret(secret, key.public_key()), Scope.STRICT)
    assert opened == {"blob": binary, "user": b"from-string-data"}


def test_seal_value_gets_each_items_exact_plaintext_and_label(key: rsa.RSAPrivateKey) -> None:
    """The hook sees what the default seals: ``data`` decoded (Go skips line breaks in base64),
    ``stringData`` as written and winning a shared name, and the label of the effective scope;
    what it returns is the item's encryptedData, base64, and the key is never used."""
    binary = bytes(range(256))
    wrapped = base64.b64encode(binary).decode()
    secret = _secret(
        data={"blob": wrapped[:40] + "\r\n" + wrapped[40:], "user": "eA=="},
        stringData={"user": "from-string-data"},
    )
    calls: list[tuple[bytes, bytes]] = []

    def seal_value(plaintext: bytes, label: bytes) -> bytes:
        calls.append((plaintext, label))
        return b"sealed:" + plaintext[:4]

    sealed = seal_secret(
        secret, key.public_key(), scope=Scope.NAMESPACE_WIDE, seal_value=seal_value
    )
    label = label_for(Scope.NAMESPACE_WIDE, "prod", "db")
    assert calls == [(binary, label), (b"from-string-data", label)]  # item names sorted
    assert sealed["spec"]["encryptedData"] == {
        "blob": base64.b64encode(b"sealed:" + binary[:4]).decode(),
        "user": base64.b64encode(b"sealed:from").decode(),
    }
    assert sealed["metadata"]["annotations"] == {NAMESPACE_WIDE_ANNOTATION: "true"}


def test_seal_raw_hands_its_value_and_scope_label_to_seal_value(key: rsa.RSAPrivateKey) -> None:
    calls: list[tuple[bytes, bytes]] = []

    def seal_value(plaintext: bytes, label: bytes) -> bytes:
        calls.append((plaintext, label))
        return b"opaque"

    text = seal_raw(key.public_key(), b"v\n", Scope.STRICT, "prod", "db", seal_value=seal_value)
    assert calls == [(b"v\n", label_for(Scope.STRICT, "prod", "db"))]
    assert decode_value(text) == b"opaque"
    with pytest.raises(SealError, match="--scope strict needs --name"):
        seal_raw(key.public_key(), b"v", Scope.STRICT, "prod", None, seal_value=seal_value)
    assert len(calls) == 1  # refused before anything is sealed


def test_namespace_and_name_from_flags(key: rsa.RSAPrivateKey) -> None:
    secret = _secret(metadata={"name": "db"})
    sealed = seal_secret(secret, key.public_key(), namespace="dev", name="other")
    assert sealed["metadata"] == {"name": "other", "namespace": "dev"}
    assert _open(key, sealed, Scope.STRICT)["user"] == b"admin"
    cluster = seal_secret(
        _secret(metadata={"name": "db"}), key.public_key(), scope=Scope.CLUSTER_WIDE
    )
    assert "namespace" not in cluster["metadata"]  # kubeseal's TestSeal: none given, none written


def test_the_input_manifest_is_not_changed(key: rsa.RSAPrivateKey) -> None:
    secret = _secret()
    before = copy.deepcopy(secret)
    seal_secret(secret, key.public_key(), scope=Scope.CLUSTER_WIDE, namespace="prod")
    assert secret == before


REFUSALS: dict[str, tuple[Any, dict[str, Any], list[str]]] = {
    "not a mapping": (["a", "list"], {}, ["list", "v1 Secret"]),
    "already sealed": (
        {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {}},
        {},
        ["already a SealedSecret", "v1 Secret"],
    ),
    "a ConfigMap": (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {},
        ["kind: ConfigMap", "expected kind: Secret, apiVersion: v1"],
    ),
    "no name": (_secret(metadata={"namespace": "prod"}), {}, ["metadata.name", "--name"]),
    "strict without namespace": (
        _secret(metadata={"name": "db"}),
        {},
        ["metadata.namespace", "--namespace", "--scope strict", "cluster-wide"],
    ),
    "namespace-wide without namespace": (
        _secret(metadata={"name": "db"}),
        {"scope": Scope.NAMESPACE_WIDE},
        ["metadata.namespace", "--scope namespace-wide"],
    ),
    "namespace mismatch": (
        _secret(),
        {"namespace": "dev"},
        ["--namespace dev", "metadata.namespace prod"],
    ),
    "data not base64": (_secret(data={"password": PLAIN}), {}, ["data.password", "stringData"]),
    "data not strings": (_secret(data={"n": 3}), {}, ["data:", "map of strings"]),
    "no items": (
        _secret(data=None, stringData=None),
        {},
        ["neither data nor stringData", "--allow-empty-data"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_the_field_and_never_a_value(key: rsa.RSAPrivateKey, case: str) -> None:
    secret, options, named = REFUSALS[case]
    with pytest.raises(SealError) as raised:
        seal_secret(copy.deepcopy(secret), key.public_key(), **options)
    message = str(raised.value)
    for fragment in named:
        assert fragment in message, (fragment, message)
    assert PLAIN not in message
    assert SealError.exit_code == 2


def test_empty_data_is_sealed_when_allowed(key: rsa.RSAPrivateKey) -> None:
    sealed = seal_secret(
        _secret(data=None, stringData=None), key.public_key(), allow_empty_data=True
    )
    assert sealed["spec"]["encryptedData"] == {}


@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
def test_seal_raw_opens_under_the_scope_label(key: rsa.RSAPrivateKey, scope: Scope) -> None:
    text = seal_raw(key.public_key(), PLAIN.encode(), scope, "prod", "db")
    label = label_for(scope, "prod", "db")
    assert unseal([key], decode_value(text), label) == PLAIN.encode()


def test_seal_raw_needs_what_the_scope_binds(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SealError, match="--scope strict needs --name"):
        seal_raw(key.public_key(), b"v", Scope.STRICT, "prod", None)
    with pytest.raises(SealError, match="--scope namespace-wide needs --namespace"):
        seal_raw(key.public_key(), b"v", Scope.NAMESPACE_WIDE, None, None)
    assert seal_raw(key.public_key(), b"v", Scope.CLUSTER_WIDE, None, None)
