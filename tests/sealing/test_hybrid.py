"""The hybrid format in both directions against an independent implementation, for every scope
and key size, and every way a value can fail to open: only the typed errors, never a traceback."""

from __future__ import annotations

import itertools

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.errors import NoMatchingKey, SealedValueTooShort, UnsealError
from sealbox.sealing import Scope, encode_value, label_for, seal, unseal
from tests.sealing import reference
from tests.sealing.conftest import KEY_SIZES

PLAINTEXTS = [b"", b"s3cr3t-value", bytes(range(256)) * 3]
LABELS = {scope: label_for(scope, "myns", "myname") for scope in Scope}
CASES = list(itertools.product(KEY_SIZES, Scope))


def _case_id(case: tuple[int, Scope]) -> str:
    return f"{case[0]}-{case[1].value}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_sealbox_round_trip(
    rsa_keys: dict[int, rsa.RSAPrivateKey], case: tuple[int, Scope]
) -> None:
    size, scope = case
    key = rsa_keys[size]
    for plaintext in PLAINTEXTS:
        sealed = seal(key.public_key(), plaintext, LABELS[scope])
        assert len(sealed) == 2 + size // 8 + len(plaintext) + 16
        assert sealed[:2] == (size // 8).to_bytes(2, "big")
        assert unseal([key], sealed, LABELS[scope]) == plaintext


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_the_reference_unsealer_opens_what_sealbox_seals(
    rsa_keys: dict[int, rsa.RSAPrivateKey], case: tuple[int, Scope]
) -> None:
    size, scope = case
    key = rsa_keys[size]
    sealed = seal(key.public_key(), b"from sealbox", LABELS[scope])
    assert reference.unseal(key, sealed, LABELS[scope]) == b"from sealbox"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_sealbox_opens_what_the_reference_sealer_seals(
    rsa_keys: dict[int, rsa.RSAPrivateKey], case: tuple[int, Scope]
) -> None:
    size, scope = case
    key = rsa_keys[size]
    for plaintext in PLAINTEXTS:
        sealed = reference.seal(key.public_key(), plaintext, LABELS[scope])
        assert unseal([key], sealed, LABELS[scope]) == plaintext


@pytest.mark.parametrize(("size", "prefixes"), [(2048, "AQ"), (3072, "AY"), (4096, "Ag")])
def test_the_base64_text_starts_as_upstream_values_do(
    rsa_keys: dict[int, rsa.RSAPrivateKey], size: int, prefixes: str
) -> None:
    text = encode_value(seal(rsa_keys[size].public_key(), b"x", b""))
    assert text[:2] == prefixes
    assert text[2] in "ABCD"


def test_sealing_twice_gives_different_values(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    key = rsa_keys[2048].public_key()
    assert seal(key, b"same", b"ns/name") != seal(key, b"same", b"ns/name")


def test_every_key_is_tried_in_order(
    rsa_keys: dict[int, rsa.RSAPrivateKey], other_key: rsa.RSAPrivateKey
) -> None:
    sealed = seal(rsa_keys[3072].public_key(), b"value", b"ns")
    keys = [other_key, rsa_keys[2048], rsa_keys[4096], rsa_keys[3072]]
    assert unseal(keys, sealed, b"ns") == b"value"


@pytest.mark.parametrize(
    ("sealed_for", "opened_as"),
    [
        (("myns", "myname"), ("myns", "other")),
        (("myns", "myname"), ("otherns", "myname")),
    ],
)
@pytest.mark.parametrize("scope", list(Scope), ids=lambda scope: scope.value)
def test_the_scope_matrix(
    rsa_keys: dict[int, rsa.RSAPrivateKey],
    scope: Scope,
    sealed_for: tuple[str, str],
    opened_as: tuple[str, str],
) -> None:
    """Upstream ``TestRaw``: strict binds name and namespace, namespace-wide only the namespace,
    cluster-wide nothing; a mismatch is "no key could decrypt secret"."""
    key = rsa_keys[2048]
    sealed = seal(key.public_key(), b"v", label_for(scope, *sealed_for))
    label = label_for(scope, *opened_as)
    same_namespace = sealed_for[0] == opened_as[0]
    opens = scope is Scope.CLUSTER_WIDE or (scope is Scope.NAMESPACE_WIDE and same_namespace)
    if opens:
        assert unseal([key], sealed, label) == b"v"
    else:
        with pytest.raises(NoMatchingKey, match="no key could decrypt secret"):
            unseal([key], sealed, label)


@pytest.mark.parametrize(
    ("sealed_as", "opened_as"), list(itertools.permutations(Scope, 2)), ids=str
)
def test_a_value_does_not_open_under_another_scope(
    rsa_keys: dict[int, rsa.RSAPrivateKey], sealed_as: Scope, opened_as: Scope
) -> None:
    key = rsa_keys[2048]
    sealed = seal(key.public_key(), b"v", LABELS[sealed_as])
    with pytest.raises(NoMatchingKey):
        unseal([key], sealed, LABELS[opened_as])


def test_a_wrong_key_or_no_key_is_no_matching_key(
    rsa_keys: dict[int, rsa.RSAPrivateKey], other_key: rsa.RSAPrivateKey
) -> None:
    sealed = seal(rsa_keys[2048].public_key(), b"plaintext-marker", b"ns/n")
    for keys in ([other_key], [], [rsa_keys[4096], rsa_keys[3072]]):
        with pytest.raises(NoMatchingKey) as caught:
            unseal(keys, sealed, b"ns/n")
        assert "plaintext-marker" not in str(caught.value)


@pytest.mark.parametrize("kept", [0, 1, 2, 100, 257])
def test_a_value_shorter_than_its_prefix_is_too_short(
    rsa_keys: dict[int, rsa.RSAPrivateKey], kept: int
) -> None:
    sealed = seal(rsa_keys[2048].public_key(), b"v", b"")
    with pytest.raises(SealedValueTooShort, match="too short"):
        unseal([rsa_keys[2048]], sealed[:kept], b"")


def test_a_value_cut_inside_the_gcm_part_or_tampered_does_not_open(
    rsa_keys: dict[int, rsa.RSAPrivateKey],
) -> None:
    key = rsa_keys[2048]
    sealed = seal(key.public_key(), b"value", b"")
    cut = sealed[: 2 + 256 + 3]
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    wrapped_flipped = sealed[:10] + bytes([sealed[10] ^ 1]) + sealed[11:]
    for broken in (cut, tampered, wrapped_flipped, sealed[: 2 + 256]):
        with pytest.raises(NoMatchingKey):
            unseal([key], broken, b"")


def test_a_short_rsa_part_is_zero_padded_as_go_reads_it(
    rsa_keys: dict[int, rsa.RSAPrivateKey],
) -> None:
    """Go reads the wrapped key as a number: ``L`` one byte short (leading zero dropped) opens."""
    key = rsa_keys[2048]
    sealed = next(
        value
        for value in (seal(key.public_key(), b"value", b"") for _ in range(5000))
        if value[2] == 0
    )
    shortened = (255).to_bytes(2, "big") + sealed[3:]
    assert unseal([key], shortened, b"") == b"value"


@pytest.mark.parametrize(("session_key_size", "opens"), [(16, True), (24, True), (20, False)])
def test_the_session_key_size_is_checked_as_go_checks_it(
    rsa_keys: dict[int, rsa.RSAPrivateKey], session_key_size: int, opens: bool
) -> None:
    """Upstream opens with ``aes.NewCipher(sessionKey)``: AES-128/192 keys open, others do not."""
    key = rsa_keys[2048]
    session_key = bytes(range(session_key_size))
    wrapped = reference.oaep_encrypt(key.public_key().public_numbers(), session_key, b"")
    body = AESGCM(session_key).encrypt(bytes(12), b"v", None) if opens else bytes(17)
    sealed = len(wrapped).to_bytes(2, "big") + wrapped + body
    if opens:
        assert unseal([key], sealed, b"") == b"v"
    else:
        with pytest.raises(NoMatchingKey):
            unseal([key], sealed, b"")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.binary(min_size=256, max_size=400).map(lambda rest: b"\x01\x00" + rest),
    )
)
def test_arbitrary_bytes_give_only_the_typed_error(
    rsa_keys: dict[int, rsa.RSAPrivateKey], data: bytes
) -> None:
    with pytest.raises(UnsealError):
        unseal([rsa_keys[2048]], data, b"ns/name")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_gives_only_the_typed_error(
    rsa_keys: dict[int, rsa.RSAPrivateKey], position: int, flip: int
) -> None:
    key = rsa_keys[2048]
    sealed = bytearray(seal(key.public_key(), b"value", b"ns/name"))
    sealed[position % len(sealed)] ^= flip
    with pytest.raises(UnsealError):
        unseal([key], bytes(sealed), b"ns/name")


def test_the_reference_unsealer_is_not_lenient(rsa_keys: dict[int, rsa.RSAPrivateKey]) -> None:
    """The cross-checks mean something only if the reference refuses what it should."""
    key = rsa_keys[2048]
    sealed = reference.seal(key.public_key(), b"v", b"ns/a")
    assert reference.unseal(key, sealed, b"ns/a") == b"v"
    for label, value in ((b"ns/b", sealed), (b"ns/a", sealed[:-1] + bytes([sealed[-1] ^ 1]))):
        with pytest.raises(reference.ReferenceUnsealError):
            reference.unseal(key, value, label)
