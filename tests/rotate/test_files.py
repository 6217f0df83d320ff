"""Config writes: validated first, atomic, backed up only on change, mode kept; 0600 private."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sealbox.errors import ConfigError
from sealbox.rotate import plan_rotation, staged_path, state_path, write_config, write_private
from tests.rotate.test_plan import CBC, IDENTITY, NOW, Keys, config, entry

ORIGINAL = ("# hand-written, with a comment\n" + config(entry("secrets", CBC, IDENTITY))).encode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _staged(name: str = "add") -> bytes:
    plan = plan_rotation(ORIGINAL.decode(), "enc.yaml", "aesgcm", now=NOW, new_key=Keys())
    data = plan.stage(name).config
    assert data is not None
    return data


def _backups(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("enc.yaml.bak-*"))


def test_write_replaces_atomically_keeps_mode_and_backs_up(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(ORIGINAL)
    path.chmod(0o640)
    inode = path.stat().st_ino
    new = _staged()
    backup = write_config(path, new, now=datetime(2026, 12, 2, 11, 37, 5, tzinfo=UTC))
    assert backup == tmp_path / "enc.yaml.bak-20261202T113705Z"
    assert backup.read_bytes() == ORIGINAL  # comments live on in the backup
    assert _mode(backup) == 0o600
    assert path.read_bytes() == new
    assert _mode(path) == 0o640
    assert path.stat().st_ino != inode  # a rename, not a rewrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.yaml", backup.name]


def test_same_content_writes_nothing_and_keeps_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(ORIGINAL)
    before = path.stat()
    assert write_config(path, ORIGINAL) is None
    assert _backups(tmp_path) == []
    assert path.stat().st_ino == before.st_ino
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_two_writes_in_one_second_keep_both_backups(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(ORIGINAL)
    first = write_config(path, _staged("add"), now=NOW)
    second = write_config(path, _staged("promote"), now=NOW)
    assert first is not None
    assert second is not None
    assert first != second
    assert second.read_bytes() == _staged("add")


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xfe", b"kind: EncryptionConfiguration\n", config(entry("secrets")).encode()],
)
def test_invalid_data_is_never_written(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "enc.yaml"
    path.write_bytes(ORIGINAL)
    path.chmod(0o640)
    before = path.stat()
    with pytest.raises(ConfigError) as caught:
        write_config(path, data)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == ORIGINAL
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.yaml"]


def test_a_new_file_is_0600_and_has_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    assert write_config(path, ORIGINAL) is None
    assert _mode(path) == 0o600
    assert path.read_bytes() == ORIGINAL


def test_a_symlinked_config_keeps_its_link(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_bytes(ORIGINAL)
    link = tmp_path / "enc.yaml"
    link.symlink_to(real)
    write_config(link, _staged())
    assert link.is_symlink()
    assert real.read_bytes() == _staged()


def test_private_files_are_0600_even_when_they_existed_wider(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_private(path, b"new")
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"new"
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_where_the_rotation_keeps_its_files() -> None:
    config_path = Path("/etc/kubernetes/enc.yaml")
    assert state_path(config_path) == Path("/etc/kubernetes/enc.yaml.rotation.json")
    assert staged_path(config_path, "add") == Path("/etc/kubernetes/enc.yaml.rotation-add.yaml")
