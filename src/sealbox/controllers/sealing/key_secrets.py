"""The key Secret format: how a sealing key is written to and read from a Secret, as upstream.

Each key is a Secret of type ``kubernetes.io/tls`` in the key namespace, named from
``generateName: <prefix>`` (``sealed-secrets-key5rxd9``: no dash), labelled
``sealedsecrets.bitnami.com/sealed-secrets-key=active`` (any other value takes it out of use),
with the PKCS#1 PEM in ``tls.key`` and the certificate in ``tls.crt``; the pre-v0.9 Secret named
exactly ``<prefix>`` is a key too, label or not. Secrets upstream made read unchanged, and keys
written here read in upstream. With a :class:`~.wrapping.KeyWrapper` the private key is kept
wrapped by a KMS backend instead of in ``tls.key`` (the certificate stays in the clear).

The key store (:mod:`.keystore`, the lifecycle) and the backup (:mod:`.backup`) share this
module, so both read a Secret the same way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing.wrapping import (
    WRAPPED_BY_ANNOTATION,
    WRAPPED_KEY_FIELD,
    KeyWrapper,
)
from sealbox.errors import InvalidSealingKey
from sealbox.sealing import SealingKey, key_from_pem

__all__ = [
    "ACTIVE",
    "BACKED_UP_ANNOTATION",
    "DEFAULT_KEY_PREFIX",
    "KEY_LABEL",
    "TLS_SECRET_TYPE",
    "StoredKey",
    "is_wrapped",
    "key_digest",
    "key_secret",
    "private_key_pem",
    "read_sealing_key",
    "secret_fields",
    "stored_key",
]

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
ACTIVE = "active"
DEFAULT_KEY_PREFIX = "sealed-secrets-key"
TLS_SECRET_TYPE = "kubernetes.io/tls"  # noqa: S105 - a Secret type, not a password
#: Set (merge patch) by ``sealbox seal backup`` on every key Secret it exported.
BACKED_UP_ANNOTATION = "sealbox.io/backed-up-at"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key and the Secret that holds it (name, creation time, wrapping, last backup)."""

    secret_name: str
    key: SealingKey
    created: datetime.datetime | None
    wrapped_by: str | None = None
    backed_up_at: str | None = None
    digest: str = field(default="", repr=False)


def secret_fields(obj: Any) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    """A Secret's ``data`` (decoded), labels and annotations, from a lightkube object or dict."""
    if isinstance(obj, Mapping):
        meta = obj.get("metadata") or {}
        raw, labels, annotations = obj.get("data"), meta.get("labels"), meta.get("annotations")
    else:
        raw, labels, annotations = obj.data, obj.metadata.labels, obj.metadata.annotations
    data: dict[str, bytes] = {}
    for name, text in (raw or {}).items():
        try:
            data[str(name)] = base64.b64decode(str(text), validate=True)
        except (binascii.Error, ValueError):
            data[str(name)] = b""
    return data, dict(labels or {}), dict(annotations or {})


def key_digest(data: Mapping[str, bytes]) -> str:
    """A hash of the key material in a Secret's data: unchanged means no need to parse again
    (a label or annotation edit does not cost an RSA key load or a KMS unwrap)."""
    material = hashlib.sha256()
    for name in ("tls.key", "tls.crt", WRAPPED_KEY_FIELD):
        material.update(len(data.get(name, b"")).to_bytes(8, "big") + data.get(name, b""))
    return material.hexdigest()


def is_wrapped(data: Mapping[str, bytes]) -> bool:
    """Whether the private key is held wrapped by a KMS backend rather than in ``tls.key``."""
    return WRAPPED_KEY_FIELD in data


async def private_key_pem(
    data: Mapping[str, bytes],
    annotations: Mapping[str, str],
    *,
    wrapper: KeyWrapper | None,
    source: str,
) -> bytes:
    """The private key PEM of a key Secret's data, unwrapped by ``wrapper`` if it is wrapped.

    Raises:
        InvalidSealingKey: the key is wrapped and there is no wrapper (names the backend).
        SealboxError: the wrapper could not unwrap it.
    """
    if not is_wrapped(data):
        return data.get("tls.key", b"")
    if wrapper is None:
        wrapped_by = annotations.get(WRAPPED_BY_ANNOTATION, "a KMS backend")
        raise InvalidSealingKey(
            f"{source}: the key is wrapped by {wrapped_by}; configure key wrapping with "
            "that backend to load it"
        )
    return await wrapper.unwrap(data[WRAPPED_KEY_FIELD], data.get("tls.crt", b""), source=source)


async def read_sealing_key(
    data: Mapping[str, bytes],
    annotations: Mapping[str, str],
    *,
    wrapper: KeyWrapper | None,
    source: str,
) -> SealingKey:
    """The :class:`~sealbox.sealing.SealingKey` a key Secret holds (RSA parsing off the loop).

    Raises:
        InvalidSealingKey: not a key pair, or wrapped with no wrapper (names ``source``).
        SealboxError: the wrapper could not unwrap it.
    """
    pem = await private_key_pem(data, annotations, wrapper=wrapper, source=source)
    return await asyncio.to_thread(key_from_pem, pem, data.get("tls.crt", b""), source=source)


def stored_key(secret: Any, key: SealingKey) -> StoredKey:
    """``key`` as held by ``secret`` (its name, creation time, wrapping and backup record)."""
    data, _labels, annotations = secret_fields(secret)
    return StoredKey(
        secret_name=str(secret.metadata.name),
        key=key,
        created=secret.metadata.creationTimestamp,
        wrapped_by=annotations.get(WRAPPED_BY_ANNOTATION) if is_wrapped(data) else None,
        backed_up_at=annotations.get(BACKED_UP_ANNOTATION),
        digest=key_digest(data),
    )


async def key_secret(
    key: SealingKey,
    *,
    namespace: str,
    prefix: str,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    wrapper: KeyWrapper | None = None,
) -> Secret:
    """The Secret to create for ``key`` (named by the apiserver from ``prefix``), wrapped by
    ``wrapper`` if one is given; ``labels``/``annotations`` are added to the format's own."""
    notes = dict(annotations or {})
    if wrapper is None:
        data = {"tls.crt": key.certificate_pem(), "tls.key": key.private_key_pem()}
    else:
        wrapped = await wrapper.wrap(key)
        data = wrapped.data
        notes.update(wrapped.annotations)
    return Secret(
        metadata=ObjectMeta(
            generateName=prefix,
            namespace=namespace,
            labels={**(labels or {}), KEY_LABEL: ACTIVE},
            annotations=notes or None,
        ),
        type=TLS_SECRET_TYPE,
        data={k: base64.b64encode(v).decode("ascii") for k, v in data.items()},
    )
