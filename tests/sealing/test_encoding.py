"""``encryptedData`` text: standard base64 as Go's StdEncoding reads it, else the typed error."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.errors import SealedValueNotBase64
from sealbox.sealing import decode_value, encode_value


@given(st.binary(max_size=300))
def test_encode_then_decode(data: bytes) -> None:
    text = encode_value(data)
    assert text == base64.standard_b64encode(data).decode()
    assert "\n" not in text
    assert decode_value(text) == data


def test_line_breaks_are_ignored_like_go() -> None:
    text = encode_value(bytes(range(100)))
    wrapped = "\r\n".join(text[i : i + 20] for i in range(0, len(text), 20)) + "\n"
    assert decode_value(wrapped) == bytes(range(100))


@pytest.mark.parametrize(
    "text",
    ["AgB-_w==", "AgB", "AgB=x===", "Ag B", "AgBé===", "not base64!", "AgA=AgA="],
)
def test_anything_else_is_refused_naming_the_item_not_the_text(text: str) -> None:
    with pytest.raises(SealedValueNotBase64) as caught:
        decode_value(text, item="password")
    assert str(caught.value) == "encryptedData item 'password': not standard base64"


@given(st.text(max_size=80))
def test_arbitrary_text_decodes_or_gives_the_typed_error(text: str) -> None:
    try:
        decoded = decode_value(text)
    except SealedValueNotBase64:
        return
    stripped = text.replace("\r", "").replace("\n", "")
    assert len(decoded) == len(stripped) // 4 * 3 - stripped[-2:].count("=")
