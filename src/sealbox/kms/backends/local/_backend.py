"""The ``local`` backend: AES-256-GCM under the KEKs of a keyring file (:mod:`._keyring`).

The last key is current and wraps; every key unwraps, so rotation never strands old data::

    ciphertext  0x01 ‖ nonce(12) ‖ AES-256-GCM(plaintext, aad = key_id) ‖ tag(16)

AES-GCM on 32 bytes takes microseconds, so the plugin awaits it in place, on its event loop;
the keyring file is re-read when it changes (a ``rotate-key`` by another process).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealbox.errors import BackendRejected
from sealbox.kms import Wrapped
from sealbox.kms.backends.kind import BackendKind
from sealbox.kms.backends.local._keyring import add_key, load_keyring
from sealbox.kms.backends.settings import BackendSettings

__all__ = ["KIND", "Config", "LocalBackend", "build"]

NONCE_BYTES = 12
FORMAT_V1 = b"\x01"


class Config(BackendSettings):
    type: Literal["local"]
    key_file: Path


class LocalBackend:
    """KEKs from a keyring file; the newest wraps, any unwraps."""

    kind = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = f"local keyring {path}"
        self._keys: dict[str, AESGCM] = {}
        self._current = ""
        self._stamp: tuple[int, int, int] | None = None
        self.reload()

    def _file_stamp(self) -> tuple[int, int, int]:
        info = self.path.stat()
        return info.st_ino, info.st_mtime_ns, info.st_size

    def reload(self) -> None:
        """Re-read the keyring (after ``sealbox kms rotate-key``).

        Raises:
            ConfigError: the keyring is missing, unreadable or invalid.
        """
        try:  # before reading, so a change made while reading is seen at the next call
            stamp = self._file_stamp()
        except OSError:  # missing: load_keyring says so, clearly; else re-read next time
            stamp = (-1, -1, -1)
        keys = load_keyring(self.path)
        self._keys = {key.key_id: AESGCM(key.material) for key in keys}
        self._current = keys[-1].key_id
        self._stamp = stamp

    def _reload_if_changed(self) -> bool:
        try:
            changed = self._file_stamp() != self._stamp
        except OSError:
            return False  # keep serving with the keys in memory; the probe reports the file
        if changed:
            self.reload()
        return changed

    async def current_key_id(self) -> str:
        """The newest KEK's id; re-reads the keyring when the file changed (a rotation)."""
        self._reload_if_changed()
        return self._current

    async def wrap(self, plaintext: bytes) -> Wrapped:
        key_id = self._current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[key_id].encrypt(nonce, plaintext, key_id.encode())
        return Wrapped(ciphertext=FORMAT_V1 + nonce + sealed, key_id=key_id)

    async def unwrap(
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        aead = self._keys.get(key_id)
        if aead is None and self._reload_if_changed():
            aead = self._keys.get(key_id)
        if aead is None:
            raise BackendRejected(f"{self.label}: no KEK with key_id {key_id[:80]!r}")
        if not ciphertext.startswith(FORMAT_V1) or len(ciphertext) < 1 + NONCE_BYTES + 16:
            raise BackendRejected(f"{self.label}: ciphertext is not in the local format")
        nonce = ciphertext[1 : 1 + NONCE_BYTES]
        try:
            return aead.decrypt(nonce, ciphertext[1 + NONCE_BYTES :], key_id.encode())
        except InvalidTag:
            raise BackendRejected(f"{self.label}: ciphertext does not unwrap") from None

    def owns(self, key_id: str) -> bool:
        return key_id.startswith("local:")

    def close(self) -> None:
        self._keys = {}

    def __repr__(self) -> str:
        return f"LocalBackend(path={str(self.path)!r}, keys={len(self._keys)})"


def _key_file(config: Config, base_dir: Path) -> Path:
    return config.key_file if config.key_file.is_absolute() else base_dir / config.key_file


def build(config: Config, *, base_dir: Path) -> LocalBackend:
    """The backend for ``config``; ``keyFile`` resolves against ``base_dir`` when relative.

    Raises:
        ConfigError: the keyring is missing, readable by others, or not a keyring.
    """
    return LocalBackend(_key_file(config, base_dir))


KIND = BackendKind(
    name="local",
    config=Config,
    serve=lambda config, base_dir: build(config, base_dir=base_dir),
    rotate=lambda config, base_dir: add_key(_key_file(config, base_dir)),
)
"""The ``local`` entry of the backend registry: served in place, rotated by adding a key."""
