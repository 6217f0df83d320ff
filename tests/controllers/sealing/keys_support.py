"""Shared sealing keys (2048-bit, made once) and key Secrets as upstream writes them.

Tests of the key store, wrapping, server and backup build Secrets here the way the upstream
controller does (``kubernetes.io/tls``, the active label, PKCS#1 ``tls.key``), independently of
:class:`~sealbox.controllers.sealing.keystore.KeyStore`, so a store that wrote or read another
layout would fail them.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret

from sealbox.sealing import SealingKey, generate_key

__all__ = [
    "KEY_LABEL",
    "WAIT_SECONDS",
    "make_keys",
    "upstream_key_secret",
    "within",
]

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
WAIT_SECONDS = 60.0  # events arrive in well under a second; this only bounds a broken test

T = TypeVar("T")


def make_keys(count: int, *, age: datetime.timedelta = datetime.timedelta(0)) -> list[SealingKey]:
    """``count`` 2048-bit keys, NotBefore ``age`` ago, one second apart (oldest first)."""
    start = datetime.datetime.now(datetime.UTC) - age
    return [
        generate_key(bits=2048, now=start + datetime.timedelta(seconds=i)) for i in range(count)
    ]


def upstream_key_secret(
    name: str,
    key: SealingKey,
    *,
    namespace: str,
    label: str | None = "active",
    data: Mapping[str, bytes] | None = None,
) -> Secret:
    """A key Secret as the upstream controller writes it (``label`` None: no label)."""
    fields = (
        data
        if data is not None
        else {"tls.crt": key.certificate_pem(), "tls.key": key.private_key_pem()}
    )
    return Secret(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            labels=None if label is None else {KEY_LABEL: label},
        ),
        type="kubernetes.io/tls",
        data={k: base64.b64encode(v).decode() for k, v in fields.items()},
    )


async def within(awaitable: Awaitable[T]) -> T:
    """``awaitable``, failing the test if it takes more than :data:`WAIT_SECONDS`."""
    return await asyncio.wait_for(awaitable, WAIT_SECONDS)
