"""Static key generation: sizes the apiserver accepts, base64 form, and a pasteable snippet."""

from __future__ import annotations

import base64

import pytest
import yaml

from sealbox.encryption.config import lint_config
from sealbox.encryption.keygen import KeyKind, generate_key, provider_snippet


def _counting(size: int) -> bytes:
    return bytes(range(size))


@pytest.mark.parametrize(
    ("kind", "size", "length"),
    [
        ("aesgcm", 16, 24),
        ("aesgcm", 24, 32),
        ("aesgcm", 32, 44),
        ("aescbc", 16, 24),
        ("aescbc", 24, 32),
        ("aescbc", 32, 44),
        ("secretbox", 32, 44),
    ],
)
def test_generate_key_sizes(kind: KeyKind, size: int, length: int) -> None:
    key = generate_key(kind, size=size, rand_bytes=_counting)
    assert len(key) == length
    assert base64.b64decode(key, validate=True) == bytes(range(size))


def test_default_is_32_random_bytes() -> None:
    first, second = generate_key("aesgcm"), generate_key("aesgcm")
    assert len(base64.b64decode(first)) == 32
    assert first != second


@pytest.mark.parametrize(
    ("kind", "size"),
    [("aesgcm", 20), ("aescbc", 64), ("secretbox", 16), ("secretbox", 24), ("aesgcm", 0)],
)
def test_rejects_sizes_the_apiserver_rejects(kind: KeyKind, size: int) -> None:
    with pytest.raises(ValueError, match=f"{kind} keys are .* bytes long, not {size}"):
        generate_key(kind, size=size)


def test_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown key kind"):
        generate_key("aesctr", size=32)  # type: ignore[arg-type]


def test_rejects_short_random_source() -> None:
    with pytest.raises(ValueError, match="returned 31 bytes, not 32"):
        generate_key("secretbox", rand_bytes=lambda size: bytes(size - 1))


@pytest.mark.parametrize("kind", ["aesgcm", "aescbc", "secretbox"])
def test_snippet_is_a_valid_provider(kind: KeyKind) -> None:
    key = generate_key(kind)
    snippet = provider_snippet(kind, "key-1", key)
    providers = yaml.safe_load(snippet)
    assert providers == [{kind: {"keys": [{"name": "key-1", "secret": key}]}}]
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": providers}],
    }
    report = lint_config(yaml.safe_dump(document), "snippet")
    assert report.errors == ()


def test_snippet_refuses_a_key_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="secretbox keys are 32 bytes long, not 16"):
        provider_snippet("secretbox", "k", generate_key("aesgcm", size=16))
