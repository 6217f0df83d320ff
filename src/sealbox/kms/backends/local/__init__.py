"""``local``: AES-256-GCM KEKs in a keyring file next to the plugin.

For development and small clusters: the KEK sits on the control-plane disk, so prefer an HSM or a
remote KMS in production. ``sealbox kms keygen`` writes the keyring (:func:`create_keyring`),
``sealbox kms rotate-key`` adds a KEK (:func:`add_key`).
"""

from __future__ import annotations

from sealbox.kms.backends.local._backend import KIND, Config, LocalBackend, build
from sealbox.kms.backends.local._keyring import (
    KEY_BYTES,
    KEYRING_KIND,
    KeyringKey,
    add_key,
    create_keyring,
    key_id_for,
    load_keyring,
)

__all__ = [
    "KEYRING_KIND",
    "KEY_BYTES",
    "KIND",
    "Config",
    "KeyringKey",
    "LocalBackend",
    "add_key",
    "build",
    "create_keyring",
    "key_id_for",
    "load_keyring",
]
