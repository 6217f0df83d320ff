"""The local keyring file: AES-256 KEKs in JSON, mode 0600, written atomically.

::

    {"kind": "SealboxLocalKeyring", "version": 1,
     "keys": [{"created": "2026-11-23T08:00:00Z", "secret": "<base64 of 32 bytes>"}, ...]}

    key_id      local:<first 32 hex of SHA-256("sealbox local kek\\0" ‖ key)>   (one-way)

The last key is current; :func:`add_key` appends one (rotation) and never drops the others.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sealbox.errors import ConfigError, ConfigIssue, InputError

__all__ = [
    "KEYRING_KIND",
    "KEY_BYTES",
    "KeyringKey",
    "add_key",
    "create_keyring",
    "key_id_for",
    "load_keyring",
]

KEYRING_KIND = "SealboxLocalKeyring"
KEY_BYTES = 32
_KEY_ID_DOMAIN = b"sealbox local kek\x00"


@dataclass(frozen=True, slots=True)
class KeyringKey:
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
    """Write ``document`` to ``path`` atomically, mode 0600. A replaced keyring keeps its owner
    and group, so rotating as root does not lock out a plugin that runs as another user."""
    directory = path.parent
    owner = _owner(path) if replace else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        if owner is not None and owner != (os.geteuid(), os.getegid()):
            with contextlib.suppress(PermissionError):  # only root may give a file away
                os.fchown(fd, *owner)
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


def load_keyring(path: Path) -> list[KeyringKey]:
    """The keys of a keyring file, oldest first.

    Raises:
        ConfigError: missing, readable by others, not a keyring, or a key of the wrong size.
    """
    source = str(path)
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = f"no such keyring; create one with: sealbox kms keygen --key-file {path}"
        raise ConfigError(source, [ConfigIssue("", hint)]) from None
    except IsADirectoryError:
        hint = "is a directory; expected a keyring file (from sealbox kms keygen)"
        raise ConfigError(source, [ConfigIssue("", hint)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(source, [ConfigIssue("", f"cannot read ({reason})")]) from None
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


def _parse_keys(source: str, document: object) -> list[KeyringKey]:
    if not isinstance(document, dict) or document.get("kind") != KEYRING_KIND:
        raise ConfigError(source, [ConfigIssue("kind", f"expected {KEYRING_KIND!r}")])
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(source, [ConfigIssue("keys", "expected a non-empty list of keys")])
    keys: list[KeyringKey] = []
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
        keys.append(KeyringKey(key_id_for(material), material, created))
    return keys


def _owner(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_uid, stat.st_gid
