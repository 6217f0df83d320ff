"""Decoding one stored value: the etcdctl trailing-newline rule, and encoding back."""

from __future__ import annotations

import pytest

from sealbox.errors import DecryptError, InputError, ObjectDecodeError
from sealbox.ops import check_plaintext, decode_value, encode_value
from tests.ops.world import NEW, OLD, plaintext, secret_key, transformers

KEY = secret_key(0)
WIDGET_KEY = "/registry/example.com/widgets/team-a/w1"


def test_a_value_decodes_to_its_writer_and_object() -> None:
    value = transformers(OLD).write(KEY, plaintext(KEY))
    decoded = decode_value(transformers(NEW), KEY, value)
    assert (decoded.read.provider, decoded.read.key_name, decoded.read.stale) == (
        "aesgcm",
        "old",
        True,
    )
    assert decoded.as_dict() == {
        "provider": "aesgcm",
        "keyName": "old",
        "stale": True,
        "object": decoded.object,
    }
    assert decoded.object["metadata"]["name"] == "s000"
    assert "original" not in repr(decoded)  # the object is a secret: no repr shows it


def test_the_newline_etcdctl_appends_is_dropped_when_that_decodes() -> None:
    value = transformers(NEW).write(KEY, plaintext(KEY))
    decoded = decode_value(transformers(NEW), KEY, value + b"\n")
    assert decoded.read.data == plaintext(KEY)
    assert decoded.read.provider == "secretbox"


def test_the_exact_bytes_win_when_both_would_decode() -> None:
    value = b'{"apiVersion": "example.com/v1", "kind": "Widget"}\n'  # JSON allows the newline
    decoded = decode_value(transformers(NEW), WIDGET_KEY, value)
    assert decoded.read.data == value
    assert decoded.object["kind"] == "Widget"


def test_when_neither_decodes_the_error_is_about_the_exact_bytes() -> None:
    # Both forms are broken JSON, at different places: the message shows which was reported.
    with pytest.raises(ObjectDecodeError, match="line 2, column 1"):
        decode_value(transformers(NEW), WIDGET_KEY, b'{"kind": 1\n')
    value = transformers(NEW).write(KEY, plaintext(KEY))
    tampered = value[:-1] + bytes([value[-1] ^ 1])
    with pytest.raises(DecryptError, match=KEY):
        decode_value(transformers(NEW), KEY, tampered + b"\n")


def test_a_value_without_a_newline_is_tried_once() -> None:
    with pytest.raises(ObjectDecodeError, match="line 1, column 11"):
        decode_value(transformers(NEW), WIDGET_KEY, b'{"kind": 1')


def test_encode_is_what_the_write_provider_stores() -> None:
    value = encode_value(transformers(NEW), KEY, plaintext(KEY))
    assert value.startswith(b"k8s:enc:secretbox:v1:new:")
    assert decode_value(transformers(NEW), KEY, value).read.data == plaintext(KEY)


def test_encode_takes_only_an_object_that_belongs_at_the_key() -> None:
    new = transformers(NEW)
    with pytest.raises(InputError, match=r"the plaintext is not a Kubernetes object \(envelope"):
        encode_value(new, KEY, b"hello")
    with pytest.raises(InputError, match="not valid JSON"):
        encode_value(new, KEY, b'{"kind": ')
    with pytest.raises(InputError, match="the plaintext object has no apiVersion, metadata"):
        encode_value(new, KEY, b'{"kind": "Secret"}')
    with pytest.raises(InputError) as caught:
        encode_value(new, secret_key(1, "team-b"), plaintext(KEY))
    assert str(caught.value) == (
        "the plaintext object does not belong at /registry/secrets/team-b/s001: "
        "metadata.name is 's000', the key says 's001'; "
        "metadata.namespace is 'team-a', the key says 'team-b'"
    )
    with pytest.raises(InputError, match=r"metadata\.namespace is 'team-a', the key says None"):
        encode_value(new, "/registry/secrets/s000", plaintext(KEY))
    with pytest.raises(InputError, match="outside the etcd prefix"):
        encode_value(new, "/elsewhere/secrets/team-a/s000", plaintext(KEY))


def test_check_plaintext_returns_the_object() -> None:
    widget = b'{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", '
    widget += b'"namespace": "team-a"}}'
    assert check_plaintext(WIDGET_KEY, widget, etcd_prefix="/registry")["kind"] == "Widget"
    cluster = b'{"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}'
    key = "/registry/example.com/gadgets/g"
    assert check_plaintext(key, cluster, etcd_prefix="/registry")["metadata"] == {"name": "g"}
