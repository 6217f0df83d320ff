"""What ``sealbox rotate --to`` names: a static provider type or a KMS v2 provider.

``aesgcm``, ``aescbc`` and ``secretbox`` mean a fresh key of that type; ``kms:<name>`` the KMS v2
provider of that name (reused from the file, or added with ``--kms-endpoint``). ``identity`` is
refused on its own: rotating to it would store new writes in plaintext. Anything else is one
:class:`~sealbox.errors.InputError` naming ``--to`` and the valid forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sealbox.errors import InputError

__all__ = ["VALID_TARGETS", "Target", "TargetKind", "parse_target"]

TargetKind = Literal["aesgcm", "aescbc", "secretbox", "kms"]
_STATIC: dict[str, TargetKind] = {"aesgcm": "aesgcm", "aescbc": "aescbc", "secretbox": "secretbox"}
VALID_TARGETS = "aesgcm, aescbc, secretbox or kms:<name> (a KMS v2 provider)"
_IDENTITY = (
    "--to identity: rotating to identity would store new writes in plaintext; rotate to an "
    f"encrypting provider: {VALID_TARGETS}"
)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed ``--to``: ``kind``, and for ``kms`` the provider's ``name``."""

    kind: TargetKind
    name: str = ""

    def __str__(self) -> str:
        return f"kms:{self.name}" if self.kind == "kms" else self.kind


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def parse_target(text: str) -> Target:
    """The target ``text`` names (``aesgcm``, ``aescbc``, ``secretbox`` or ``kms:<name>``).

    Raises:
        InputError: ``identity``, an unknown type, or a kms name that is empty or holds ``:``
            (kube-apiserver refuses ``:`` in a KMS v2 name).
    """
    static = _STATIC.get(text)
    if static is not None:
        return Target(static)
    if text == "identity":
        raise InputError(_IDENTITY)
    kind, colon, name = text.partition(":")
    if kind != "kms" or not colon:
        raise InputError(f"--to {_shown(text)}: expected {VALID_TARGETS}")
    if not name.strip():
        raise InputError(f"--to {_shown(text)}: kms:<name> needs the KMS v2 provider's name")
    if ":" in name:
        raise InputError(
            f"--to {_shown(text)}: a KMS v2 provider name must not contain ':' "
            "(kube-apiserver refuses it)"
        )
    if name != name.strip() or any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        raise InputError(f"--to {_shown(text)}: the kms name has spaces or control characters")
    return Target("kms", name)
