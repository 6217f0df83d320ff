"""The EncryptionConfiguration model: what ``--encryption-provider-config`` holds.

Plain frozen dataclasses, already defaulted the way the apiserver defaults them (kms apiVersion
``v1`` when empty, timeout 3s, cachesize 1000 for v1). Every element remembers its field path
(``resources[0].providers[2]``) so later checks and errors can point at it. Parsing and the
apiserver's validation rules live in :mod:`sealbox.encryption.config`; this module holds shapes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_KMS_CACHESIZE",
    "DEFAULT_KMS_TIMEOUT_SECONDS",
    "EncryptionConfiguration",
    "KMSConfiguration",
    "Key",
    "ProviderConfiguration",
    "ProviderType",
    "ResourceConfiguration",
]

ProviderType = Literal["identity", "aescbc", "aesgcm", "secretbox", "kms"]

DEFAULT_KMS_TIMEOUT_SECONDS = 3.0
DEFAULT_KMS_CACHESIZE = 1000


@dataclass(frozen=True, slots=True)
class Key:
    """A named static key; ``secret`` is the base64 text from the file. Never shown in reprs."""

    name: str
    secret: str = field(repr=False)
    path: str = ""

    def material(self) -> bytes:
        """The decoded key bytes (validation has already checked the base64 and the length).

        Raises:
            ValueError: the secret is not standard padded base64.
        """
        try:
            return base64.b64decode(self.secret, validate=True)
        except binascii.Error:
            raise ValueError(f"{self.path or self.name}: secret is not valid base64") from None

    def __repr__(self) -> str:
        return f"Key(name={self.name!r}, secret=<redacted>)"


@dataclass(frozen=True, slots=True)
class KMSConfiguration:
    """A ``kms`` provider block after defaulting."""

    name: str
    endpoint: str
    api_version: Literal["v1", "v2"] = "v1"
    cachesize: int | None = None
    timeout_seconds: float = DEFAULT_KMS_TIMEOUT_SECONDS
    path: str = ""


@dataclass(frozen=True, slots=True)
class ProviderConfiguration:
    """One element of a ``providers`` list: exactly one provider type."""

    type: ProviderType
    keys: tuple[Key, ...] = ()
    kms: KMSConfiguration | None = None
    path: str = ""

    @property
    def label(self) -> str:
        """A short human name: ``aesgcm`` or ``kms v2 (name)``."""
        if self.kms is not None:
            return f"kms {self.kms.api_version} ({self.kms.name})"
        return self.type


@dataclass(frozen=True, slots=True)
class ResourceConfiguration:
    """One ``resources`` entry: which group-resources it covers and their provider chain."""

    resources: tuple[str, ...]
    providers: tuple[ProviderConfiguration, ...]
    path: str = ""


@dataclass(frozen=True, slots=True)
class EncryptionConfiguration:
    """A whole, valid EncryptionConfiguration file."""

    resources: tuple[ResourceConfiguration, ...]
    source: str = "<config>"
