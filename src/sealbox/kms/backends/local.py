"""``local``: AES-256-GCM KEKs in a keyring file next to the plugin. For development and small
clusters; the KEK sits on the control-plane disk, so prefer an HSM or a remote KMS in production.

Keyring file (JSON, mode 0600, written atomically)::

    {"kind": "SealboxLocalKeyring", "version": 1,
     "keys": [{"created": "2026-11-23T08:00:00Z", "secret": "<base64 of 32 bytes>"}, ...]}

The last key is current and wraps; every key unwraps, so rotation never strands old data.

::

    key_id      local:<first 32 hex of SHA-256("sealbox local kek\\0" ‖ key)>   (one-way)
    ciphertext  0x01 ‖ nonce(12) ‖ AES-256-GCM(plaintext, aad = key_id) ‖ tag(16)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealbox.errors import BackendRejected, ConfigError, ConfigIssue, InputError
from sealbox.kms import Wrapped
from sealbox.kms.backends.base import BackendSettings

__all__ = [
    "Config",
    "LocalBackend",
    "add_key",
    "build",
    "create_keyring",
    "key_id_for",
    "load_keyring",
]

KEYRING_KIND = "SealboxLocalKeyring"
KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_V1 = b"\x01"
_KEY_ID_DOMAIN = b"sealbox local kek\x00"


class Config(BackendSettings):
    type: Literal["local"]
    key_file: Path


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    material: bytes = field(repr=False)
    created: str


def key_id_for(material: bytes) -> str:
    """The key_id of a KEK: a domain-separated SHA-256 prefix; the key cannot be recovered."""
    return "local:" + hashlib.sha256(_KEY_ID_DOMAIN + material).hexdigest()[:32]


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _entry(material: bytes) -> dict[str, str]:
    return {"created": _now(), "secret": base64.b64encode(material).decode()}


def _write_private(path: Path, document: Mapping[str, object], *, replace: bool) -> None:
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path exists: never overwrite a keyring by accident
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_keyring(path: Path) -> str:
    """Write a new keyring with one fresh KEK (mode 0600); returns its key_id.

    Raises:
        InputError: the file already exists or cannot be written.
    """
    material = os.urandom(KEY_BYTES)
    try:
        _write_private(
            path, {"kind": KEYRING_KIND, "version": 1, "keys": [_entry(material)]}, replace=False
        )
    except FileExistsError:
        raise InputError(f"{path}: already exists; refusing to overwrite a keyring") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    return key_id_for(material)


def add_key(path: Path) -> str:
    """Append a fresh KEK to an existing keyring; it becomes current. Returns its key_id.

    Raises:
        ConfigError: the keyring is unreadable or invalid.
    """
    keys = load_keyring(path)
    material = os.urandom(KEY_BYTES)
    document = {
        "kind": KEYRING_KIND,
        "version": 1,
        "keys": [
            {"created": key.created, "secret": base64.b64encode(key.material).decode()}
            for key in keys
        ]
        + [_entry(material)],
    }
    _write_private(path, document, replace=True)
    return key_id_for(material)


def load_keyring(path: Path) -> list[_Key]:
    """The keys of a keyring file, oldest first.

    Raises:
        ConfigError: missing, readable by others, not a keyring, or a key of the wrong size.
    """
    source = str(path)
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [ConfigIssue("", f"cannot read ({exc.strerror})")]) from None
    if mode & 0o077:
        raise ConfigError(
            source,
            [ConfigIssue("", f"mode {mode:04o} lets others read the KEK; run: chmod 600 {path}")],
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, [ConfigIssue("", f"not JSON (line {exc.lineno})")]) from None
    return _parse_keys(source, document)


def _parse_keys(source: str, document: object) -> list[_Key]:
    if not isinstance(document, dict) or document.get("kind") != KEYRING_KIND:
        raise ConfigError(source, [ConfigIssue("kind", f"expected {KEYRING_KIND!r}")])
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(source, [ConfigIssue("keys", "expected a non-empty list of keys")])
    keys: list[_Key] = []
    for index, entry in enumerate(entries):
        where = f"keys[{index}].secret"
        secret = entry.get("secret") if isinstance(entry, dict) else None
        try:
            material = base64.b64decode(str(secret), validate=True)
        except binascii.Error:
            raise ConfigError(source, [ConfigIssue(where, "not valid base64")]) from None
        if len(material) != KEY_BYTES:
            raise ConfigError(
                source, [ConfigIssue(where, f"expected {KEY_BYTES} bytes, got {len(material)}")]
            )
        created = str(entry.get("created", "")) if isinstance(entry, dict) else ""
        keys.append(_Key(key_id_for(material), material, created))
    return keys


class LocalBackend:
    """KEKs from a keyring file; the newest wraps, any unwraps."""

    kind = "local"
    blocking = False
    threads = 1

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
        """Re-read the keyring (after ``sealbox kms rotate-key``)."""
        stamp = self._file_stamp()
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

    def current_key_id(self) -> str:
        """The newest KEK's id; re-reads the keyring when the file changed (a rotation)."""
        self._reload_if_changed()
        return self._current

    def wrap(self, plaintext: bytes) -> Wrapped:
        key_id = self._current
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[key_id].encrypt(nonce, plaintext, key_id.encode())
        return Wrapped(ciphertext=FORMAT_V1 + nonce + sealed, key_id=key_id)

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
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


def build(config: Config, *, base_dir: Path) -> LocalBackend:
    path = config.key_file if config.key_file.is_absolute() else base_dir / config.key_file
    return LocalBackend(path)
