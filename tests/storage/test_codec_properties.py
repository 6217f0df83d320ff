"""Properties of the object codec: hostile bytes are refused cleanly, random objects round-trip."""

from __future__ import annotations

import base64
import json
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.errors import ObjectDecodeError
from sealbox.storage.codec import (
    decode_object,
    encode_configmap,
    encode_secret,
    wrap_unknown,
)
from sealbox.storage.meta import parse_rfc3339
from tests.storage.test_codec import (
    CONFIGMAP_KEY,
    SECRET_KEY,
    plain_data,
    recorded,
    reencode_secret,
    safe_text,
)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def tagged(number: int, wire_type: int, payload: bytes) -> bytes:
    prefix = varint(len(payload)) if wire_type == 2 else b""
    return varint(number << 3 | wire_type) + prefix + payload


field_numbers = st.integers(1, 18)
scalar_fields = st.one_of(
    st.builds(lambda n, v: tagged(n, 0, varint(v)), field_numbers, st.integers(0, 2**64 - 1)),
    st.builds(lambda n, b: tagged(n, 2, b), field_numbers, st.binary(max_size=12)),
    st.builds(lambda n, b: tagged(n, 1, b), field_numbers, st.binary(min_size=8, max_size=8)),
    st.builds(lambda n, b: tagged(n, 5, b), field_numbers, st.binary(min_size=4, max_size=4)),
)
protobuf_ish = st.recursive(
    st.lists(scalar_fields, max_size=6).map(b"".join),
    lambda inner: st.lists(
        st.one_of(scalar_fields, st.builds(lambda n, m: tagged(n, 2, m), field_numbers, inner)),
        max_size=6,
    ).map(b"".join),
    max_leaves=40,
)
wrapped_protobuf_ish = st.builds(
    wrap_unknown,
    st.sampled_from(["v1", "apps/v1"]),
    st.sampled_from(["Secret", "ConfigMap", "Deployment"]),
    protobuf_ish,
)
any_bytes = st.one_of(
    st.binary(),
    st.binary().map(lambda b: b"k8s\x00" + b),
    st.binary().map(lambda b: b"{" + b),
    protobuf_ish.map(lambda b: b"k8s\x00" + b),
    wrapped_protobuf_ish,
)


def decodes_or_refuses_cleanly(data: bytes) -> None:
    try:
        manifest = decode_object(data)
    except ObjectDecodeError:
        return
    assert isinstance(manifest, dict)
    json.dumps(manifest)  # what the API would show is always JSON-serializable


@settings(max_examples=400, deadline=None)
@given(any_bytes)
def test_decode_object_only_ever_raises_object_decode_error(data: bytes) -> None:
    decodes_or_refuses_cleanly(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_recorded_values_only_raise_object_decode_error(data: st.DataObject) -> None:
    value = bytearray(recorded(data.draw(st.sampled_from([SECRET_KEY, CONFIGMAP_KEY]))))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(value) - 1))
        value[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(value)))
    decodes_or_refuses_cleanly(bytes(value[:cut]))


text_maps = st.dictionaries(safe_text, safe_text, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    name=safe_text,
    namespace=safe_text,
    data=st.dictionaries(safe_text, st.binary(max_size=64), max_size=5),
    type_=st.sampled_from(["Opaque", "kubernetes.io/tls", "example.com/x"]),
    labels=text_maps,
    annotations=text_maps,
    creation_timestamp=st.integers(0, 253402300799),
    immutable=st.none() | st.booleans(),
)
def test_random_secrets_round_trip(
    name: str,
    namespace: str,
    data: dict[str, bytes],
    type_: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    creation_timestamp: int,
    immutable: bool | None,
) -> None:
    uid = str(uuid.UUID(int=creation_timestamp))
    stored = encode_secret(
        name=name,
        namespace=namespace,
        data=data,
        type_=type_,
        labels=labels,
        annotations=annotations,
        uid=uid,
        creation_timestamp=creation_timestamp,
        immutable=immutable,
    )
    manifest = decode_object(stored)
    meta = manifest["metadata"]
    assert plain_data(manifest) == data
    assert manifest["type"] == type_
    assert manifest.get("immutable") == immutable
    assert (meta.get("name", ""), meta.get("namespace", ""), meta["uid"]) == (name, namespace, uid)
    assert meta.get("labels", {}) == labels
    assert meta.get("annotations", {}) == annotations
    assert parse_rfc3339(meta["creationTimestamp"]) == creation_timestamp
    # empty name/namespace are left out of the manifest; put them back to re-encode
    complete = manifest | {"metadata": meta | {"name": name, "namespace": namespace}}
    assert reencode_secret(complete) == stored


@settings(max_examples=100, deadline=None)
@given(data=text_maps, binary_data=st.dictionaries(safe_text, st.binary(max_size=32), max_size=3))
def test_random_configmaps_round_trip(data: dict[str, str], binary_data: dict[str, bytes]) -> None:
    stored = encode_configmap(
        name="c", namespace="n", data=data, binary_data=binary_data, uid="u", creation_timestamp=1
    )
    manifest = decode_object(stored)
    assert manifest.get("data", {}) == data
    decoded_binary = {k: base64.b64decode(v) for k, v in manifest.get("binaryData", {}).items()}
    assert decoded_binary == binary_data
    assert manifest["metadata"]["creationTimestamp"] == "1970-01-01T00:00:01Z"
