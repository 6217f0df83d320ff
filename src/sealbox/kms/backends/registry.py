"""Config ``type`` → backend module; modules load lazily so unused SDKs are never imported.

A backend module may also define ``build_for_server(config, *, base_dir)``: what the plugin server
(``sealbox kms serve``) builds instead of ``build``. ``pkcs11`` does, to run its backend in a worker
process behind a natively async proxy; every other caller gets ``build``'s in-process backend.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol, cast

from pydantic import BaseModel

from sealbox.kms.backends.base import Backend

__all__ = ["BACKEND_MODULES", "BackendModule", "backend_module", "build_backend"]

BACKEND_MODULES = {
    "local": "sealbox.kms.backends.local",
    "pkcs11": "sealbox.kms.backends.pkcs11",
    "vault": "sealbox.kms.backends.vault",
    "awskms": "sealbox.kms.backends.awskms",
}


class BackendModule(Protocol):
    Config: type[BaseModel]

    def build(self, config: Any, *, base_dir: Path) -> Backend: ...


def backend_module(kind: str) -> BackendModule:
    """The module implementing backend ``kind``.

    Raises:
        KeyError: no such backend type.
    """
    return cast(BackendModule, importlib.import_module(BACKEND_MODULES[kind]))


def build_backend(config: BaseModel, *, base_dir: Path, for_server: bool = False) -> Backend:
    """The backend ``config`` describes; ``for_server``: as the plugin server runs it."""
    kind = cast(str, config.type)  # type: ignore[attr-defined]
    module = backend_module(kind)
    build = getattr(module, "build_for_server", None) if for_server else None
    return cast(Backend, (build or module.build)(config, base_dir=base_dir))
