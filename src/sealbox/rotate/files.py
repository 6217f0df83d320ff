"""Writing the EncryptionConfiguration and the rotation's own files, atomically and checked.

kube-apiserver polls its ``--encryption-provider-config`` (or reads it at start-up), so it must
never see half a file or one it refuses: :func:`write_config` validates the new bytes with the
apiserver's own rules first, keeps a backup of the file it replaces, and swaps the file in with
one ``rename`` (a temporary file in the same directory, flushed to disk, then the directory).
The file keeps its mode (and owner, when allowed). A file that already holds these bytes is not
touched, so rerunning a stage is a no-op.

The rotation's state and staged files sit beside the config (:func:`state_path`,
:func:`staged_path`) and hold key material, so :func:`write_private` writes them 0600.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sealbox.encryption import parse_config
from sealbox.errors import ConfigError, ConfigIssue, InputError

__all__ = ["staged_path", "state_path", "write_config", "write_private"]

_PRIVATE = 0o600


def state_path(config: Path) -> Path:
    """Where the rotation state of ``config`` is kept: ``<config>.rotation.json``."""
    return config.with_name(config.name + ".rotation.json")


def staged_path(config: Path, stage: str) -> Path:
    """Where the staged file of ``stage`` is kept: ``<config>.rotation-<stage>.yaml``."""
    return config.with_name(f"{config.name}.rotation-{stage}.yaml")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None) -> None:
    """Put ``data`` at ``path`` in one rename: temp file beside it, fsync, rename, fsync dir."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            if owner is not None and owner != (os.getuid(), os.getgid()):
                # not allowed to give the file away: it stays ours, with its mode
                with contextlib.suppress(PermissionError):
                    os.fchown(handle.fileno(), *owner)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _cannot(path: Path, action: str, exc: OSError) -> InputError:
    return InputError(f"{path}: cannot {action}: {exc.strerror or type(exc).__name__}")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically, readable by its owner only (0600).

    Raises:
        InputError: the directory cannot be written.
    """
    try:
        _replace(path, data, _PRIVATE, None)
    except OSError as exc:
        raise _cannot(path, "write", exc) from None


def _backup_path(path: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, number = path.with_name(f"{path.name}.bak-{stamp}"), 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{number}")
    return candidate


def write_config(path: Path, data: bytes, *, now: datetime | None = None) -> Path | None:
    """Replace the EncryptionConfiguration at ``path`` with ``data``, safely.

    ``data`` must pass the apiserver's validation (hot reload rules) before anything is
    written. When ``path`` already holds exactly ``data`` nothing happens (returns None).
    Otherwise the current file is copied to ``<path>.bak-<UTC time>`` (0600), and ``data`` takes
    its place in one rename, keeping its mode (0600 for a new file). A symlink is followed, so
    the link stays and its target changes. ``now`` names the backup (default: the clock).

    Returns:
        The backup's path, or None when nothing was written or there was no file to back up.

    Raises:
        ConfigError: ``data`` is not UTF-8 or not a valid EncryptionConfiguration.
        InputError: the file or its directory cannot be read or written.
    """
    real = Path(os.path.realpath(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(str(path), [ConfigIssue("", "the new file is not UTF-8 text")]) from None
    parse_config(text, str(path), reload=True)
    try:
        current: bytes | None = real.read_bytes()
        info = real.stat()
    except FileNotFoundError:
        current, info = None, None
    except OSError as exc:
        raise _cannot(path, "read", exc) from None
    if current == data:
        return None
    backup = None
    if current is not None:
        backup = _backup_path(real, now or datetime.now(UTC))
        write_private(backup, current)
    mode = stat.S_IMODE(info.st_mode) if info is not None else _PRIVATE
    owner = (info.st_uid, info.st_gid) if info is not None else None
    try:
        _replace(real, data, mode, owner)
    except OSError as exc:
        raise _cannot(path, "write", exc) from None
    return backup
