"""The key ring: newest key first, both formats, and the RSA operations each value costs."""

from __future__ import annotations

import datetime

import pytest

from sealbox.errors import NoMatchingKey, NoSealingKey, SealedValueTooShort
from sealbox.sealing import KeyRing, SealingKey, generate_key, seal, seal_envelope
from tests.sealing import reference

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def five_keys() -> list[SealingKey]:
    """Five keys renewed 30 days apart, oldest first."""
    return [generate_key(bits=2048, now=START + datetime.timedelta(days=30 * i)) for i in range(5)]


def test_newest_is_by_not_before_whatever_the_order_added(five_keys: list[SealingKey]) -> None:
    ring = KeyRing([five_keys[2], five_keys[4], five_keys[0], five_keys[3], five_keys[1]])
    assert ring.newest is five_keys[4]
    assert [key.not_before for key in ring.keys] == sorted(
        (key.not_before for key in five_keys), reverse=True
    )
    assert len(ring) == 5
    assert five_keys[1].fingerprint in ring


def test_add_and_discard_by_fingerprint(five_keys: list[SealingKey]) -> None:
    ring = KeyRing()
    with pytest.raises(NoSealingKey):
        _ = ring.newest
    assert ring.add(five_keys[0]) is True
    assert ring.add(five_keys[0]) is False
    assert ring.add(five_keys[1]) is True
    assert ring.newest is five_keys[1]
    assert ring.discard(five_keys[1].fingerprint) is True
    assert ring.discard(five_keys[1].fingerprint) is False
    assert ring.newest is five_keys[0]
    assert ring.get(five_keys[0].fingerprint) is five_keys[0]
    assert repr(ring) == "KeyRing(1 keys)"


def test_upstream_values_cost_one_try_per_key_until_the_sealer(
    five_keys: list[SealingKey],
) -> None:
    ring = KeyRing(five_keys)
    for age, key in enumerate(reversed(five_keys)):  # newest has age 0
        value = reference.seal(key.public_key, b"secret", b"ns/name")
        before = ring.private_key_operations
        assert ring.open(value, b"ns/name") == b"secret"
        assert ring.private_key_operations - before == age + 1
        assert ring.opened_by(value, b"ns/name") is key


def test_envelope_values_cost_one_operation(five_keys: list[SealingKey]) -> None:
    ring = KeyRing(five_keys)
    value = seal_envelope([five_keys[0].public_key], b"secret", b"ns")
    before = ring.private_key_operations
    assert ring.open(value, b"ns") == b"secret"
    assert ring.private_key_operations - before == 1
    assert ring.opened_by(value, b"ns") is five_keys[0]


def test_no_key_wrong_label_and_short_values_fail_with_upstream_classes(
    five_keys: list[SealingKey],
) -> None:
    ring = KeyRing(five_keys[:2])
    foreign = seal(five_keys[4].public_key, b"v", b"")
    with pytest.raises(NoMatchingKey, match=r"no key could decrypt secret \(2 keys tried\)"):
        ring.open(foreign, b"")
    mine = seal(five_keys[0].public_key, b"v", b"ns/a")
    with pytest.raises(NoMatchingKey):
        ring.open(mine, b"ns/b")
    with pytest.raises(SealedValueTooShort):
        ring.open(b"\x02", b"")
