"""RSA keys for the sealing tests, generated once per session (a 4096-bit key takes a while)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_SIZES = (2048, 3072, 4096)


@pytest.fixture(scope="session")
def rsa_keys() -> dict[int, rsa.RSAPrivateKey]:
    """One private key per size in :data:`KEY_SIZES`."""
    return {
        size: rsa.generate_private_key(public_exponent=65537, key_size=size) for size in KEY_SIZES
    }


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    """A key that sealed nothing: the "wrong key" of the failure tests."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
