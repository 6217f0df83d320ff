"""The local keyring file: written whole and 0600, never overwritten by create, rotated in place
keeping its owner (a plugin running as a non-root user must still read it after a root rotation)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sealbox.errors import ConfigError, InputError
from sealbox.kms.backends.local import add_key, create_keyring, key_id_for, load_keyring


def test_create_then_rotate_keeps_old_keys_and_makes_the_new_one_current(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    first = create_keyring(path)
    second = add_key(path)
    keys = load_keyring(path)
    assert [key_id_for(key.material) for key in keys] == [first, second]
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["kek.key"]  # no temp file left behind


def test_create_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    create_keyring(path)
    before = path.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        create_keyring(path)
    assert path.read_bytes() == before


def test_a_keyring_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    create_keyring(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError):
        load_keyring(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_rotation_as_root_keeps_the_keyrings_owner(tmp_path: Path) -> None:
    path = tmp_path / "kek.key"
    create_keyring(path)
    os.chown(path, 10001, 10001)  # the plugin's user in deploy/
    add_key(path)
    stat = path.stat()
    assert (stat.st_uid, stat.st_gid) == (10001, 10001)
    assert stat.st_mode & 0o777 == 0o600
