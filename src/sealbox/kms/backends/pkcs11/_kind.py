"""The ``pkcs11`` backend's registry entry: how the plugin serves it and how it rotates."""

from __future__ import annotations

from pathlib import Path

from sealbox.kms.backends.kind import BackendKind
from sealbox.kms.backends.pkcs11._backend import rotate_key
from sealbox.kms.backends.pkcs11._config import Config
from sealbox.kms.backends.pkcs11._proxy import Pkcs11Proxy

__all__ = ["KIND"]


def _serve(config: Config, base_dir: Path) -> Pkcs11Proxy:
    return Pkcs11Proxy(config, base_dir=base_dir).start()


def _rotate(config: Config, base_dir: Path) -> str:
    return rotate_key(config, base_dir=base_dir)


KIND = BackendKind(name="pkcs11", config=Config, serve=_serve, rotate=_rotate)
"""The ``pkcs11`` entry of the backend registry: served from a worker process, rotated in the
token (a new KEK generation)."""
