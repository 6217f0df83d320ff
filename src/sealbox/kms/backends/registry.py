"""Backend types by name: plugin.yaml's ``type`` to the subpackage that implements it.

Each backend subpackage (``sealbox.kms.backends.<type>``) exports its :class:`BackendKind` as
``KIND``. Subpackages are imported only when a config names them, so a plugin on the local key
never imports boto3, hvac or the PKCS#11 library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from sealbox.kms.backends.kind import BackendKind, BackendType, ConfiguredBackend

__all__ = ["BACKEND_TYPES", "backend_type", "configure_backend"]

BACKEND_TYPES = ("awskms", "local", "pkcs11", "vault")
"""Every plugin.yaml backend ``type``; each is the name of its subpackage."""


def backend_type(name: str) -> BackendType:
    """The backend type called ``name`` (its subpackage is imported now).

    Raises:
        KeyError: no such backend type (see :data:`BACKEND_TYPES`).
    """
    if name not in BACKEND_TYPES:
        raise KeyError(name)
    kind = importlib.import_module(f"{__package__}.{name}").KIND
    if not isinstance(kind, BackendKind) or kind.name != name:
        raise TypeError(f"sealbox.kms.backends.{name}.KIND is not the {name!r} BackendKind")
    return kind


def configure_backend(entry: Mapping[str, object]) -> ConfiguredBackend:
    """Validate one plugin.yaml ``backends`` entry, of whichever type it names.

    Raises:
        KeyError: ``type`` is missing or names no backend.
        pydantic.ValidationError: the entry breaks that backend's config model.
    """
    return backend_type(str(entry.get("type"))).configure(entry)
