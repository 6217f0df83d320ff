"""The Sealbox envelope: several recipients, key ids, scope labels, checked both ways against
an independent implementation in the test tree."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from sealbox.errors import NoMatchingKey, SealedValueTooShort, SealError
from sealbox.sealing import (
    Scope,
    envelope_key_ids,
    is_envelope,
    label_for,
    open_envelope,
    public_key_fingerprint,
    seal_envelope,
)
from sealbox.sealing import unseal as upstream_unseal
from tests.sealing import reference, reference_envelope
from tests.sealing.conftest import KEY_SIZES

LABELS = [label_for(scope, "ns", "name") for scope in Scope]


def _holder(*keys: rsa.RSAPrivateKey) -> Callable[[str], rsa.RSAPrivateKey | None]:
    by_id = {public_key_fingerprint(key.public_key()): key for key in keys}
    return by_id.get


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("bits", KEY_SIZES)
def test_each_recipient_opens_what_src_seals(
    rsa_keys: dict[int, rsa.RSAPrivateKey], other_key: rsa.RSAPrivateKey, bits: int, label: bytes
) -> None:
    recipients = [rsa_keys[bits], other_key]
    sealed = seal_envelope([key.public_key() for key in recipients], b"p\x00ss", label)
    assert is_envelope(sealed)
    assert envelope_key_ids(sealed) == tuple(
        public_key_fingerprint(key.public_key()) for key in recipients
    )
    for key in recipients:
        assert open_envelope(sealed, label, _holder(key)) == b"p\x00ss"
        assert reference_envelope.unseal(key, sealed, label) == b"p\x00ss"


@pytest.mark.parametrize("label", LABELS)
def test_src_opens_what_the_reference_seals(
    rsa_keys: dict[int, rsa.RSAPrivateKey], other_key: rsa.RSAPrivateKey, label: bytes
) -> None:
    sealed = reference_envelope.seal(
        [other_key.public_key(), rsa_keys[3072].public_key()], b"value", label
    )
    assert open_envelope(sealed, label, _holder(rsa_keys[3072])) == b"value"


def test_one_rsa_operation_whatever_the_keys_held(
    rsa_keys: dict[int, rsa.RSAPrivateKey], other_key: rsa.RSAPrivateKey
) -> None:
    sealed = seal_envelope([other_key.public_key()], b"v", b"")
    attempts: list[int] = []
    holder = _holder(*rsa_keys.values(), other_key)
    assert open_envelope(sealed, b"", holder, on_attempt=lambda: attempts.append(1)) == b"v"
    assert attempts == [1]


def test_wrong_scope_and_missing_key_do_not_open(
    rsa_keys: dict[int, rsa.RSAPrivateKey], other_key: rsa.RSAPrivateKey
) -> None:
    sealed = seal_envelope([other_key.public_key()], b"v", LABELS[0])
    with pytest.raises(NoMatchingKey, match="sealed envelope"):
        open_envelope(sealed, LABELS[1], _holder(other_key))
    with pytest.raises(NoMatchingKey, match="none of the envelope's 1 recipients is held"):
        open_envelope(sealed, LABELS[0], _holder(rsa_keys[2048]))


def test_the_recipient_list_is_authenticated(other_key: rsa.RSAPrivateKey) -> None:
    sealed = bytearray(seal_envelope([other_key.public_key()], b"v", b""))
    sealed[40] ^= 1  # inside the wrapped key of recipient 0: the header is AAD
    with pytest.raises(NoMatchingKey):
        open_envelope(bytes(sealed), b"", _holder(other_key))


def test_upstream_readers_refuse_an_envelope(other_key: rsa.RSAPrivateKey) -> None:
    sealed = seal_envelope([other_key.public_key()], b"v", b"")
    with pytest.raises((NoMatchingKey, SealedValueTooShort)):
        upstream_unseal([other_key], sealed, b"")
    with pytest.raises(reference.ReferenceUnsealError):
        reference.unseal(other_key, sealed, b"")


def test_recipient_count_is_checked(other_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SealError, match="1 to 255 recipients, not 0"):
        seal_envelope([], b"v", b"")
    with pytest.raises(SealError, match="twice"):
        seal_envelope([other_key.public_key(), other_key.public_key()], b"v", b"")


@given(st.binary(max_size=600))
def test_any_bytes_open_or_fail_cleanly(data: bytes) -> None:
    value = b"SBX\x01" + data
    key = _FUZZ_KEY
    with contextlib.suppress(NoMatchingKey, SealedValueTooShort):
        open_envelope(value, b"", _holder(key))
    with contextlib.suppress(SealedValueTooShort):
        envelope_key_ids(value)


_FUZZ_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
