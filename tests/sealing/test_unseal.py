"""A SealedSecret becomes the Secret upstream's ``Unseal`` builds: values sealed by the
independent reference sealer open for every scope and key size; template metadata, type and
immutable carry over; templates render over the decrypted values; legacy ``spec.data`` opens;
and every failure is one ``UnsealFailed`` with the right reason, naming items, never values."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.errors import NoMatchingKey, UnsealFailed
from sealbox.sealing import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    Scope,
    label_for,
    scope_annotations,
    seal_secret,
    unseal,
    unseal_sealed_secret,
)
from tests.sealing import reference

SECRET_VALUE = b"s3cr3t-hunter2"
OpenValue = Callable[[bytes, bytes], bytes]


@pytest.fixture(scope="module")
def key(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> rsa.RSAPrivateKey:
    return rsa_keys[2048]


@pytest.fixture(scope="module")
def open_value(key: rsa.RSAPrivateKey) -> OpenValue:
    return lambda value, label: unseal([key], value, label)


def _sealed(
    key: rsa.RSAPrivateKey,
    items: dict[str, bytes],
    *,
    scope: Scope = Scope.STRICT,
    sealed_as: Scope | None = None,
    namespace: str = "myns",
    name: str = "myname",
    template: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A SealedSecret whose items the reference sealer sealed under ``sealed_as`` (default:
    the declared ``scope``)."""
    label = label_for(sealed_as or scope, namespace, name)
    encrypted = {
        item: base64.b64encode(reference.seal(key.public_key(), value, label)).decode()
        for item, value in items.items()
    }
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": scope_annotations(scope),
        },
        "spec": {"encryptedData": encrypted, "template": template or {}},
    }


def _data(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in secret["data"].items()}


def _failure(obj: dict[str, Any], open_value: OpenValue, **kwargs: Any) -> UnsealFailed:
    with pytest.raises(UnsealFailed) as caught:
        unseal_sealed_secret(obj, open_value, **kwargs)
    assert SECRET_VALUE.decode() not in str(caught.value)
    return caught.value


@pytest.mark.parametrize("scope", list(Scope))
def test_every_scope_opens_into_the_secret(
    key: rsa.RSAPrivateKey, open_value: OpenValue, scope: Scope
) -> None:
    obj = _sealed(key, {"foo": b"bar", "password": SECRET_VALUE, "empty": b""}, scope=scope)
    secret = unseal_sealed_secret(obj, open_value)
    assert secret["apiVersion"] == "v1"
    assert secret["kind"] == "Secret"
    assert secret["metadata"] == {"name": "myname", "namespace": "myns"}
    assert _data(secret) == {"foo": b"bar", "password": SECRET_VALUE, "empty": b""}
    assert "ownerReferences" not in secret["metadata"]


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_every_key_size_opens(rsa_keys: dict[int, rsa.RSAPrivateKey], size: int) -> None:
    key = rsa_keys[size]
    obj = _sealed(key, {"foo": b"\x00\xffbinary"})
    secret = unseal_sealed_secret(obj, lambda v, label: unseal([key], v, label))
    assert _data(secret) == {"foo": b"\x00\xffbinary"}


def test_what_sealbox_seals_opens(key: rsa.RSAPrivateKey, open_value: OpenValue) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "prod", "labels": {"app": "db"}},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "admin", "password": SECRET_VALUE.decode()},
    }
    sealed = seal_secret(manifest, key.public_key(), scope=Scope.NAMESPACE_WIDE)
    secret = unseal_sealed_secret(sealed, open_value)
    assert _data(secret) == {"username": b"admin", "password": SECRET_VALUE}
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret["metadata"]["labels"] == {"app": "db"}


def test_template_data_renders_over_decrypted_values(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    """Upstream TestSealRoundTripTemplateData: ``index`` and ``toJson`` of a value with quotes."""
    password = "hunter2'\"="
    obj = _sealed(key, {"foo": b"bar", "password": password.encode()})
    obj["spec"]["template"]["data"] = {
        "bar": 'secret {{ index . "foo" }} !',
        "password-json": "{{ toJson .password }}",
    }
    data = _data(unseal_sealed_secret(obj, open_value))
    assert data["bar"] == b"secret bar !"
    assert data["password-json"] == json.dumps(password).encode()
    assert data["foo"] == b"bar"


def test_a_template_overwrites_the_item_of_the_same_key(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    obj = _sealed(key, {"user": b"admin", "pass": b"pw"})
    obj["spec"]["template"]["data"] = {"user": "{{ .user }}:{{ .pass }}"}
    assert _data(unseal_sealed_secret(obj, open_value))["user"] == b"admin:pw"


def test_templates_see_the_exact_bytes_of_values(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    raw = b"\xff\xfe\x00not utf-8"
    obj = _sealed(key, {"bin": raw})
    obj["spec"]["template"]["data"] = {"copy": "<{{ .bin }}>", "b64": "{{ .bin | b64enc }}"}
    data = _data(unseal_sealed_secret(obj, open_value))
    assert data["copy"] == b"<" + raw + b">"
    assert data["b64"] == base64.b64encode(raw)


def test_template_without_encrypted_data() -> None:
    """Upstream TestTemplateWithoutEncryptedData: no items, no keys, the template still renders."""

    def no_keys(value: bytes, label: bytes) -> bytes:
        raise NoMatchingKey("no key could decrypt secret")

    obj = {"spec": {"template": {"data": {"foo": "bar"}}}}
    secret = unseal_sealed_secret(obj, no_keys)
    assert _data(secret) == {"foo": b"bar"}
    assert secret["metadata"] == {"name": "", "namespace": ""}


def test_template_metadata_type_and_immutable_carry_over(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    """Upstream TestSealMetadataPreservation, seen from the unsealing side: the template metadata
    is deep-copied (annotations with dots and slashes too), name and namespace are forced."""
    template = {
        "metadata": {
            "name": "other-name",
            "namespace": "other-ns",
            "labels": {"app": "web"},
            "annotations": {"foo": "x", "foo.bar.io/foo-bar-baz": "y"},
            "finalizers": ["example.com/keep"],
            "notAnObjectMetaField": "dropped, as Go's ObjectMeta drops it",
        },
        "type": "kubernetes.io/tls",
        "immutable": True,
    }
    obj = _sealed(key, {"tls.key": b"k"}, template=copy.deepcopy(template))
    secret = unseal_sealed_secret(obj, open_value)
    assert secret["metadata"] == {
        "name": "myname",
        "namespace": "myns",
        "labels": {"app": "web"},
        "annotations": {"foo": "x", "foo.bar.io/foo-bar-baz": "y"},
        "finalizers": ["example.com/keep"],
    }
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["immutable"] is True
    secret["metadata"]["labels"]["app"] = "changed"
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "web"}  # a deep copy


def test_the_outer_annotations_choose_the_scope_not_the_template(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    obj = _sealed(key, {"foo": b"bar"}, scope=Scope.STRICT)
    obj["spec"]["template"]["metadata"] = {"annotations": {CLUSTER_WIDE_ANNOTATION: "true"}}
    assert _data(unseal_sealed_secret(obj, open_value)) == {"foo": b"bar"}


@pytest.mark.parametrize("sealed_as", list(Scope))
@pytest.mark.parametrize("declared", list(Scope))
def test_a_value_sealed_for_another_scope_is_a_scope_mismatch(
    key: rsa.RSAPrivateKey, open_value: OpenValue, sealed_as: Scope, declared: Scope
) -> None:
    obj = _sealed(key, {"foo": SECRET_VALUE}, scope=declared, sealed_as=sealed_as)
    if sealed_as is declared:
        assert _data(unseal_sealed_secret(obj, open_value)) == {"foo": SECRET_VALUE}
        return
    failure = _failure(obj, open_value)
    assert failure.reason == "ScopeMismatch"
    assert "'foo'" in str(failure)
    assert sealed_as.value in str(failure)


def test_cluster_wide_annotation_false_is_strict(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    """Upstream TestSealRoundTripWithMisMatchClusterWide: only the exact string "true" counts."""
    obj = _sealed(key, {"foo": b"bar"}, scope=Scope.CLUSTER_WIDE)
    obj["metadata"]["annotations"][CLUSTER_WIDE_ANNOTATION] = "false"
    assert _failure(obj, open_value).reason == "ScopeMismatch"


@pytest.mark.parametrize(("namespace", "name"), [("otherns", "myname"), ("myns", "othername")])
def test_a_strict_value_under_another_name_opens_nowhere(
    key: rsa.RSAPrivateKey, open_value: OpenValue, namespace: str, name: str
) -> None:
    obj = _sealed(key, {"foo": SECRET_VALUE})
    obj["metadata"].update(namespace=namespace, name=name)
    failure = _failure(obj, open_value)
    assert failure.reason == "NoMatchingKey"
    assert "'foo': no key could decrypt secret" in str(failure)


def test_a_namespace_wide_value_moves_within_its_namespace_only(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    obj = _sealed(key, {"foo": b"bar"}, scope=Scope.NAMESPACE_WIDE)
    obj["metadata"]["name"] = "renamed"
    assert _data(unseal_sealed_secret(obj, open_value)) == {"foo": b"bar"}
    obj["metadata"]["namespace"] = "elsewhere"
    assert _failure(obj, open_value).reason == "NoMatchingKey"


def test_a_wrong_key_is_no_matching_key(
    key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    obj = _sealed(other_key, {"foo": SECRET_VALUE, "bar": SECRET_VALUE})
    failure = _failure(obj, open_value)
    assert failure.reason == "NoMatchingKey"
    assert "'bar'" in str(failure)
    assert "'foo'" in str(failure)


def test_invalid_base64_names_the_item_and_skips_decryption(open_value: OpenValue) -> None:
    """Upstream TestInvalidBase64."""
    obj = {
        "metadata": {"name": "myname", "namespace": "myns"},
        "spec": {"encryptedData": {"foo": "NOTVALIDBASE64"}},
    }
    failure = _failure(obj, open_value)
    assert failure.reason == "InvalidSealedSecret"
    assert "foo" in str(failure)
    assert "decrypt" not in str(failure)


def test_a_truncated_value_is_invalid(key: rsa.RSAPrivateKey, open_value: OpenValue) -> None:
    obj = _sealed(key, {"foo": SECRET_VALUE})
    good = base64.b64decode(obj["spec"]["encryptedData"]["foo"])
    obj["spec"]["encryptedData"]["foo"] = base64.b64encode(good[:100]).decode()
    failure = _failure(obj, open_value)
    assert failure.reason == "InvalidSealedSecret"
    assert "'foo'" in str(failure)


def test_all_failures_are_reported_together(
    key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    obj = _sealed(other_key, {"wrongkey": SECRET_VALUE})
    obj["spec"]["encryptedData"]["notb64"] = "!!!"
    obj["spec"]["template"]["data"] = {"tpl": "{{ .wrongkey | nosuchfunc }}"}
    failure = _failure(obj, open_value)
    assert failure.reason == "InvalidSealedSecret"  # the most specific reason wins
    for item in ("'wrongkey'", "'notb64'", "'tpl'"):
        assert item in str(failure)


def test_a_template_error_names_key_and_position_never_a_value(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    obj = _sealed(key, {"password": SECRET_VALUE})
    obj["spec"]["template"]["data"] = {"conf": "line1\n  {{ indent .password .password }}"}
    failure = _failure(obj, open_value)
    assert failure.reason == "TemplateError"
    assert "template: conf:2:6:" in str(failure)


def test_legacy_v1_data_opens(key: rsa.RSAPrivateKey, open_value: OpenValue) -> None:
    """Upstream TestUnsealingV1Format: the whole Secret, sealed as JSON, in ``spec.data``; both
    scope annotations present, cluster-wide wins."""
    annotations = {CLUSTER_WIDE_ANNOTATION: "true", NAMESPACE_WIDE_ANNOTATION: "true"}
    original = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "myname", "namespace": "myns", "annotations": annotations},
        "data": {"foo": base64.b64encode(b"bar").decode()},
    }
    blob = reference.seal(key.public_key(), json.dumps(original).encode(), b"")
    obj = {
        "metadata": {"name": "myname", "namespace": "myns", "annotations": annotations},
        "spec": {"data": base64.b64encode(blob).decode()},
    }
    secret = unseal_sealed_secret(obj, open_value)
    assert _data(secret) == {"foo": b"bar"}
    assert secret["metadata"]["annotations"] == annotations
    rejected = _failure(obj, open_value, accept_deprecated_v1_data=False)
    assert rejected.reason == "InvalidSealedSecret"
    assert "deprecated" in str(rejected)


def test_legacy_data_beside_encrypted_data_is_rejected(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    """Upstream TestRejectBothEncryptedDataAndDeprecatedV1Data (an empty ``data`` still counts)."""
    obj = _sealed(key, {"foo": b"bar"})
    obj["spec"]["data"] = ""
    assert "at the same time" in str(_failure(obj, open_value))
    assert "deprecated" in str(_failure(obj, open_value, accept_deprecated_v1_data=False))
    obj["spec"]["data"] = None  # null is no legacy data
    assert _data(unseal_sealed_secret(obj, open_value)) == {"foo": b"bar"}


def test_legacy_data_that_is_not_a_secret_is_invalid(
    key: rsa.RSAPrivateKey, open_value: OpenValue
) -> None:
    blob = reference.seal(key.public_key(), SECRET_VALUE, b"myns/myname")
    obj = {
        "metadata": {"name": "myname", "namespace": "myns"},
        "spec": {"data": base64.b64encode(blob).decode(), "encryptedData": {}},
    }
    assert _failure(obj, open_value).reason == "InvalidSealedSecret"


@pytest.mark.parametrize(
    "spec",
    [
        None,
        [],
        {"encryptedData": ["x"]},
        {"encryptedData": {"foo": 1, "bar": None}},
        {"template": "x"},
        {"template": {"data": {"k": 1}}},
        {"template": {"type": 3}},
        {"template": {"immutable": "yes"}},
        {"template": {"metadata": {"labels": {"a": 1}}}},
        {"data": 5},
        {"data": "%%%"},
    ],
)
def test_a_malformed_spec_is_invalid(open_value: OpenValue, spec: Any) -> None:
    obj = {"metadata": {"name": "myname", "namespace": "myns"}, "spec": spec}
    assert _failure(obj, open_value).reason == "InvalidSealedSecret"


def test_non_string_encrypted_data_names_the_items(open_value: OpenValue) -> None:
    obj = {"metadata": {"name": "n", "namespace": "ns"}, "spec": {"encryptedData": {"a": 1}}}
    assert "a" in str(_failure(obj, open_value))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    metadata=st.one_of(_json, st.fixed_dictionaries({"name": st.text(max_size=5)})),
    spec=st.one_of(
        _json,
        st.fixed_dictionaries(
            {
                "encryptedData": st.dictionaries(
                    st.text(max_size=5), st.one_of(st.text(max_size=30), _json), max_size=3
                ),
                "template": st.fixed_dictionaries(
                    {"data": st.dictionaries(st.text(max_size=5), st.text(max_size=30))}
                ),
            }
        ),
    ),
)
def test_any_object_is_a_secret_or_an_unseal_failure(
    open_value: OpenValue, metadata: Any, spec: Any
) -> None:
    reason = ""
    try:
        secret = unseal_sealed_secret({"metadata": metadata, "spec": spec}, open_value)
    except UnsealFailed as failure:
        reason = failure.reason
    else:
        assert secret["kind"] == "Secret"
        assert isinstance(secret["data"], dict)
    assert reason in {"", "InvalidSealedSecret", "NoMatchingKey", "TemplateError"}


def test_the_package_unseal_name_stays_the_value_function() -> None:
    """The whole-object unsealer lives in ``unsealed_secret`` so that it does not shadow
    ``sealbox.sealing.unseal`` (one value) with a submodule of the same name."""
    import sealbox.sealing

    assert callable(sealbox.sealing.unseal)
    assert sealbox.sealing.unseal.__module__ == "sealbox.sealing.hybrid"


@pytest.mark.parametrize(
    ("annotation", "preserved"),
    [
        ("foo", True),
        ("foo.bar.io/foo-bar-baz", True),
        ("kubectl.kubernetes.io/last-applied-configuration", False),
        ("kubecfg.ksonnet.io/last-applied-configuration", False),
    ],
)
def test_metadata_survives_seal_and_unseal_except_what_leaks(
    key: rsa.RSAPrivateKey, open_value: OpenValue, annotation: str, preserved: bool
) -> None:
    """Upstream TestSealMetadataPreservation, end to end: annotations reach the Secret, except
    the last-applied copies (they hold the plaintext) and the input's ownerReferences."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "myname",
            "namespace": "myns",
            "annotations": {annotation: "test value"},
            "ownerReferences": [{"apiVersion": "foo/v1", "kind": "Foo", "name": "foo"}],
        },
        "data": {"foo": base64.b64encode(b"bar").decode()},
    }
    secret = unseal_sealed_secret(seal_secret(manifest, key.public_key()), open_value)
    assert (annotation in secret["metadata"].get("annotations", {})) is preserved
    assert "ownerReferences" not in secret["metadata"]
    assert _data(secret) == {"foo": b"bar"}
