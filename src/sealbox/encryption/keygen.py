"""Fresh keys for the static providers (``aescbc``, ``aesgcm``, ``secretbox``).

A key is random bytes of a size the apiserver accepts (V4, V5: 16, 24 or 32 for AES, exactly 32
for secretbox), written as standard padded base64, which is what the ``secret`` field holds.
Keys are returned to the caller and never logged.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Literal, get_args

import yaml

__all__ = ["KEY_SIZES", "KeyKind", "generate_key", "provider_snippet"]

KeyKind = Literal["aescbc", "aesgcm", "secretbox"]

KEY_SIZES: dict[str, tuple[int, ...]] = {
    "aescbc": (16, 24, 32),
    "aesgcm": (16, 24, 32),
    "secretbox": (32,),
}


def _check(kind: str, size: int) -> None:
    if kind not in get_args(KeyKind):
        raise ValueError(f"unknown key kind {kind!r}; expected one of aescbc, aesgcm, secretbox")
    sizes = KEY_SIZES[kind]
    if size not in sizes:
        allowed = ", ".join(str(s) for s in sizes)
        raise ValueError(f"{kind} keys are {allowed} bytes long, not {size}")


def generate_key(
    kind: KeyKind,
    *,
    size: int = 32,
    rand_bytes: Callable[[int], bytes] = os.urandom,
) -> str:
    """A new ``kind`` key of ``size`` bytes as standard base64, ready for a ``secret`` field.

    Raises:
        ValueError: unknown ``kind``, a size that kind does not accept, or ``rand_bytes``
            returned the wrong number of bytes.
    """
    _check(kind, size)
    material = rand_bytes(size)
    if len(material) != size:
        raise ValueError(f"the random source returned {len(material)} bytes, not {size}")
    return base64.b64encode(material).decode("ascii")


def provider_snippet(kind: KeyKind, name: str, secret: str) -> str:
    """A ``providers`` list element holding one key, as YAML to paste into a config file."""
    _check(kind, len(base64.b64decode(secret, validate=True)))
    element = [{kind: {"keys": [{"name": name, "secret": secret}]}}]
    return yaml.safe_dump(element, sort_keys=False, default_flow_style=False)
