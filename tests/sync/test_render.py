"""The target Secret's content: ESO's merge order, decoding strategies (Go's base64), templates
with any delimiters, and errors that name the field and never a value."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.sync import (
    DecodingStrategy,
    Fetched,
    Rendered,
    RenderError,
    decode_value,
    parse_external_secret,
    render_target,
)
from sealbox.sync.model import ExternalSecretSpec

SECRET = b"hunter2-very-secret"


def spec(**fields: Any) -> ExternalSecretSpec:
    body: dict[str, Any] = {"secretStoreRef": {"name": "bao"}, "target": {"name": "t"}}
    body.update(fields)
    return parse_external_secret({"metadata": {"name": "es", "namespace": "ns"}, "spec": body})


def item(key: str, remote: str, decoding: str = "None") -> dict[str, Any]:
    return {"secretKey": key, "remoteRef": {"key": remote, "decodingStrategy": decoding}}


@pytest.mark.parametrize(
    ("value", "strategy", "want"),
    [
        (b"aGVsbG8=", DecodingStrategy.BASE64, b"hello"),
        (b"aGVs\r\nbG8=", DecodingStrategy.BASE64, b"hello"),  # Go skips CR and LF
        (b"", DecodingStrategy.BASE64, b""),
        (b"-_8=", DecodingStrategy.BASE64URL, b"\xfb\xff"),
        (b"+/8=", DecodingStrategy.AUTO, b"\xfb\xff"),
        (b"-_8=", DecodingStrategy.AUTO, b"\xfb\xff"),
        (b"aGVsbG8", DecodingStrategy.AUTO, b"aGVsbG8"),  # unpadded: Go refuses, Auto keeps raw
        (b"not base64!", DecodingStrategy.AUTO, b"not base64!"),
        (b"aGVsbG8=", DecodingStrategy.NONE, b"aGVsbG8="),
    ],
)
def test_decode_value_as_go(value: bytes, strategy: DecodingStrategy, want: bytes) -> None:
    assert decode_value(value, strategy, "spec.data[0]") == want


@pytest.mark.parametrize(
    ("value", "strategy"),
    [
        (b"aGVsbG8", DecodingStrategy.BASE64),  # padding required
        (b"-_8=", DecodingStrategy.BASE64),
        (b"+/8=", DecodingStrategy.BASE64URL),
        (b"aG=VsbG8", DecodingStrategy.BASE64),
        (SECRET, DecodingStrategy.BASE64),
    ],
)
def test_decode_errors_name_the_field_not_the_value(
    value: bytes, strategy: DecodingStrategy
) -> None:
    with pytest.raises(RenderError) as caught:
        decode_value(value, strategy, "spec.data[3].remoteRef (secretKey pw)")
    assert caught.value.reason == "DecodingError"
    assert str(caught.value).startswith("spec.data[3].remoteRef (secretKey pw): ")
    assert value.decode() not in str(caught.value)


@given(value=st.binary(max_size=64), strategy=st.sampled_from(list(DecodingStrategy)))
def test_decode_value_raises_only_render_errors(value: bytes, strategy: DecodingStrategy) -> None:
    if strategy in (DecodingStrategy.NONE, DecodingStrategy.AUTO):
        assert isinstance(decode_value(value, strategy, "w"), bytes)
        return
    try:
        out: bytes | RenderError = decode_value(value, strategy, "w")
    except RenderError as error:
        out = error
    assert isinstance(out, bytes) or out.reason == "DecodingError"


@given(value=st.binary(max_size=64))
def test_base64_round_trips(value: bytes) -> None:
    std, url = base64.b64encode(value), base64.urlsafe_b64encode(value)
    assert decode_value(std, DecodingStrategy.BASE64, "w") == value
    assert decode_value(url, DecodingStrategy.BASE64URL, "w") == value
    assert decode_value(std, DecodingStrategy.AUTO, "w") == value


def test_eso_merge_order_data_from_in_order_then_data() -> None:
    es = spec(
        data=[item("a", "x"), item("b64", "y", "Base64")],
        dataFrom=[{"extract": {"key": "m1"}}, {"find": {"path": "p/", "decodingStrategy": "Auto"}}],
    )
    fetched = Fetched(
        data={"a": b"from-data", "b64": b"Ynl0ZXM="},
        data_from=({"a": b"m1", "k": b"m1", "only1": b"1"}, {"k": b"bTI=", "only2": b"raw!"}),
    )
    rendered = render_target(es, fetched)
    assert rendered.data == {
        "a": b"from-data",
        "b64": b"bytes",
        "k": b"m2",
        "only1": b"1",
        "only2": b"raw!",
    }
    assert rendered.type == "Opaque"
    assert rendered.labels == {}
    assert rendered.annotations == {}


def test_a_data_item_not_fetched_is_left_out() -> None:
    es = spec(data=[item("a", "x"), item("b", "y")])
    assert render_target(es, Fetched(data={"b": b"2"})).data == {"b": b"2"}


def test_data_from_maps_must_match_the_spec() -> None:
    with pytest.raises(ValueError, match="dataFrom"):
        render_target(spec(dataFrom=[{"extract": {"key": "m"}}]), Fetched())


def test_decoding_error_names_the_data_from_entry_and_key() -> None:
    es = spec(dataFrom=[{"extract": {"key": "m", "decodingStrategy": "Base64"}}])
    with pytest.raises(RenderError, match=r"^spec\.dataFrom\[0\]\.extract \(key pw\): "):
        render_target(es, Fetched(data_from=({"pw": SECRET},)))


def _templated(template: dict[str, Any], **kw: Any) -> ExternalSecretSpec:
    return spec(
        target={"name": "t", "template": {"engineVersion": "v2", **template}},
        data=[item("password", "x"), item("db-pass", "y"), item("user", "z")],
        **kw,
    )


FETCHED = Fetched(data={"password": b"p@ss word", "db-pass": b"dbp", "user": b"admin"})


def test_template_replace_keeps_only_rendered_keys() -> None:
    es = _templated(
        {
            "type": "kubernetes.io/basic-auth",
            "data": {
                "dsn": (
                    'postgres://{{ .user }}:{{ .password | urlquery }}@db/{{ index . "db-pass" }}'
                ),
                "upper": "{{ .user | upper }}",
            },
        }
    )
    rendered = render_target(es, FETCHED)
    assert rendered.data == {"dsn": b"postgres://admin:p%40ss+word@db/dbp", "upper": b"ADMIN"}
    assert rendered.type == "kubernetes.io/basic-auth"


def test_template_merge_keeps_fetched_keys_rendered_win() -> None:
    es = _templated({"mergePolicy": "Merge", "data": {"user": "{{ .user }}-x", "n": "1"}})
    assert render_target(es, FETCHED).data == {
        "password": b"p@ss word",
        "db-pass": b"dbp",
        "user": b"admin-x",
        "n": b"1",
    }


def test_template_without_data_keeps_the_fetched_keys() -> None:
    es = _templated({"type": "Opaque", "metadata": {"labels": {"app": "shop"}}})
    rendered = render_target(es, FETCHED)
    assert rendered.data == dict(FETCHED.data)
    assert rendered.labels == {"app": "shop"}


def test_template_metadata_is_rendered_like_eso_v2() -> None:
    es = _templated(
        {
            "data": {"x": "{{ .user }}"},
            "metadata": {
                "labels": {"owner": "{{ .user }}", "plain": "v"},
                "annotations": {"note": "for {{ .user | upper }}"},
            },
        }
    )
    rendered = render_target(es, FETCHED)
    assert rendered.labels == {"owner": "admin", "plain": "v"}
    assert rendered.annotations == {"note": "for ADMIN"}


def test_binary_values_stay_byte_exact_through_templates() -> None:
    es = _templated({"data": {"copy": "{{ .password }}"}})
    rendered = render_target(es, Fetched(data={"password": b"\xff\x00\xfe", "db-pass": b""}))
    assert rendered.data == {"copy": b"\xff\x00\xfe"}


def test_custom_delimiters() -> None:
    es = _templated({"data": {"dsn": "<< .user >>:{{ .user }}", "pw": " <<- .password ->> "}})
    rendered = render_target(es, FETCHED, delimiters=("<<", ">>"))
    assert rendered.data == {"dsn": b"admin:{{ .user }}", "pw": b"p@ss word"}


def test_template_error_names_the_key_never_the_value() -> None:
    es = _templated({"data": {"dsn": "ok\n{{ .password.field }}"}})
    with pytest.raises(RenderError) as caught:
        render_target(es, Fetched(data={"password": SECRET}))
    message = str(caught.value)
    assert caught.value.reason == "TemplateError"
    assert message.startswith("spec.target.template.data.dsn: template: dsn:2:")
    assert SECRET.decode() not in message


def test_template_error_in_a_label_names_the_label() -> None:
    es = _templated({"metadata": {"labels": {"app": "<< index . 1 >>"}}})
    with pytest.raises(RenderError, match=r"^spec\.target\.template\.metadata\.labels\.app: "):
        render_target(es, FETCHED, delimiters=("<<", ">>"))


def test_a_custom_delimiter_parse_error_is_a_render_error() -> None:
    es = _templated({"data": {"x": "<< .user"}})
    with pytest.raises(RenderError, match="unclosed action") as caught:
        render_target(es, FETCHED, delimiters=("<<", ">>"))
    assert caught.value.reason == "TemplateError"


def test_reprs_hide_values() -> None:
    rendered = Rendered("Opaque", {"pw": SECRET}, {"l": "v"}, {})
    assert SECRET.decode() not in repr(rendered)
    assert "pw" in repr(rendered)
    fetched = Fetched(data={"pw": SECRET}, data_from=({"k": SECRET},))
    assert SECRET.decode() not in repr(fetched)


def test_data_from_keys_are_converted_as_eso_default_conversion_does() -> None:
    spec = parse_external_secret(
        {
            "metadata": {"name": "bundle", "namespace": "shop"},
            "spec": {
                "secretStoreRef": {"name": "bao"},
                "dataFrom": [{"find": {"path": "shop/", "name": {"regexp": "feature"}}}],
            },
        }
    )
    rendered = render_target(
        spec, Fetched(data_from=({"shop/feature-a": b"on", "shop/feature b.x": b"off"},))
    )
    assert dict(rendered.data) == {"shop_feature-a": b"on", "shop_feature_b.x": b"off"}
    with pytest.raises(RenderError) as caught:
        render_target(spec, Fetched(data_from=({"a/b": b"1", "a_b": b"2"},)))
    assert caught.value.reason == "KeyCollision"
    assert "'a/b'" in str(caught.value)
    assert "1" not in str(caught.value).replace("dataFrom[0]", "")
