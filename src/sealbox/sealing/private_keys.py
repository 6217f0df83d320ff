"""Private keys for disaster recovery and inventories, in every form users keep them.

``kubeseal --recovery-private-key`` reads a PEM private key (PKCS#1 or PKCS#8, RSA), a Secret in
JSON or YAML (its ``tls.key``), a ``v1.List`` of Secrets, and so the backup that
``kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`` writes. This reads
the same, plus several PEM blocks or YAML documents in one file. Only RSA keys are sealing keys;
anything else is refused with the file named, and no key material is ever in a message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import InvalidSealingKey

__all__ = ["read_private_keys"]

_PEM_BEGIN = b"-----BEGIN "
_PEM_END = b"-----END "


def _pem_blocks(data: bytes) -> Iterator[bytes]:
    start = data.find(_PEM_BEGIN)
    while start != -1:
        end = data.find(_PEM_END, start)
        if end == -1:
            return
        stop = data.find(b"-----", end + len(_PEM_END))
        stop = len(data) if stop == -1 else stop + 5
        yield data[start:stop]
        start = data.find(_PEM_BEGIN, stop)


def _from_pem(pem: bytes, source: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise InvalidSealingKey(
            f"{source}: a PEM block is not an unencrypted private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidSealingKey(f"{source}: the private key is not RSA; Sealed Secrets needs RSA")
    return key


def _secrets_in(document: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return
    if document.get("kind") == "List" or (
        isinstance(document.get("items"), list) and "kind" not in document
    ):
        for item in document.get("items") or []:
            yield from _secrets_in(item)
    elif document.get("kind") == "Secret":
        yield document


def _from_secret(secret: Mapping[str, Any], source: str) -> list[rsa.RSAPrivateKey]:
    name = (secret.get("metadata") or {}).get("name", "?")
    data = secret.get("data") or {}
    string_data = secret.get("stringData") or {}
    if isinstance(string_data, Mapping) and isinstance(string_data.get("tls.key"), str):
        pem = string_data["tls.key"].encode()
    elif isinstance(data, Mapping) and isinstance(data.get("tls.key"), str):
        try:
            pem = base64.b64decode(data["tls.key"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidSealingKey(
                f"{source}: Secret {name}: data.tls.key is not base64"
            ) from None
    else:
        raise InvalidSealingKey(f"{source}: Secret {name} has no tls.key")
    blocks = list(_pem_blocks(pem))
    if not blocks:
        raise InvalidSealingKey(f"{source}: Secret {name}: tls.key holds no PEM private key")
    return [_from_pem(block, f"{source}: Secret {name}") for block in blocks]


def read_private_keys(data: bytes, source: str) -> list[rsa.RSAPrivateKey]:
    """Every RSA private key in ``data`` (the contents of ``source``, named in errors).

    Raises :class:`InvalidSealingKey` when the file holds none, or holds something else where a
    key should be.
    """
    if _PEM_BEGIN in data and b"PRIVATE KEY" in data and b"apiVersion" not in data:
        return [_from_pem(block, source) for block in _pem_blocks(data) if b"PRIVATE KEY" in block]
    try:
        text = data.decode()
        documents = (
            [json.loads(text)] if text.lstrip().startswith("{") else list(yaml.safe_load_all(text))
        )
    except (UnicodeDecodeError, ValueError, yaml.YAMLError):
        raise InvalidSealingKey(
            f"{source}: neither a PEM private key nor a Secret in YAML or JSON"
        ) from None
    keys = [
        key
        for document in documents
        for secret in _secrets_in(document)
        for key in _from_secret(secret, source)
    ]
    if not keys:
        raise InvalidSealingKey(
            f"{source}: no private key found (expected a PEM private key, a Secret with tls.key, "
            "or a List of them)"
        )
    return keys
