"""``sealbox seal --recipients CERT ...``: every value sealed once for several certificates.

Each value becomes one Sealbox envelope (:func:`sealbox.sealing.seal_envelope`): one session key
wrapped for each recipient, each named by its key id, so any of the clusters (or an offline
recovery key) opens it and the controller needs one RSA operation instead of a trial of every
key. The upstream controller cannot open an envelope; it is Sealbox's format.

The recipients are the ``--recipients`` certificates, plus ``--cert`` when it is given; the rest
of the SealedSecret (metadata, template, scope) is exactly what kubeseal writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.cli.seal_certs import Controller, public_key
from sealbox.errors import SealError
from sealbox.sealing import Scope, seal_envelope, seal_raw, seal_secret

__all__ = ["recipient_keys", "seal_raw_to_recipients", "seal_to_recipients"]


def recipient_keys(
    cert: str | None, recipients: Sequence[str], controller: Controller
) -> list[rsa.RSAPublicKey]:
    """The public keys of ``--cert`` (if given) and each ``--recipients`` certificate."""
    keys = [public_key(cert, controller)] if cert is not None else []
    keys += [public_key(each, controller, "--recipients") for each in recipients]
    fingerprints = [key.public_numbers() for key in keys]
    if len(set(fingerprints)) != len(fingerprints):
        raise SealError("--recipients: the same certificate is given twice; name each once")
    return keys


def seal_to_recipients(
    secret: Any,
    *,
    keys: Sequence[rsa.RSAPublicKey],
    scope: Scope | None,
    namespace: str | None,
    name: str | None,
    allow_empty_data: bool,
) -> dict[str, Any]:
    """:func:`sealbox.sealing.seal_secret` with every value an envelope for ``keys``."""
    return seal_secret(
        secret,
        keys[0],
        scope=scope,
        namespace=namespace,
        name=name,
        allow_empty_data=allow_empty_data,
        seal_value=_to_envelope(keys),
    )


def seal_raw_to_recipients(
    keys: Sequence[rsa.RSAPublicKey],
    value: bytes,
    scope: Scope,
    namespace: str | None,
    name: str | None,
) -> str:
    """``--raw --recipients``: one value as envelope text."""
    return seal_raw(keys[0], value, scope, namespace, name, seal_value=_to_envelope(keys))


def _to_envelope(keys: Sequence[rsa.RSAPublicKey]) -> Callable[[bytes, bytes], bytes]:
    """Seals one value (plaintext, label) as an envelope any of ``keys`` opens."""

    def seal_value(plaintext: bytes, label: bytes) -> bytes:
        return seal_envelope(keys, plaintext, label)

    return seal_value
