"""Decoding one stored value: the etcdctl trailing-newline rule, and encoding back."""

from __future__ import annotations

import pytest

from sealbox.errors import DecryptError, ObjectDecodeError
from sealbox.ops import decode_value, encode_value
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
