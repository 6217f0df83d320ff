"""File plumbing shared by commands: read input bytes (``-`` = stdin), write output atomically.

Output files follow one convention: ``--output-file FILE`` never replaces an existing file unless
``--force``; ``--output-dir DIR`` holds many. Files are written to a temp file in the same
directory (mode 0600) and renamed into place, so a reader never sees half a file and an
interrupted write leaves nothing behind. Every error names the flag or file and what would do.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from sealbox.errors import InputError

__all__ = [
    "check_output_dir",
    "check_output_file",
    "private_dir",
    "read_input",
    "write_private_file",
]


def read_input(path: str, what: str = "") -> bytes:
    """The raw bytes of ``path``, or of stdin for ``-``; ``what`` (e.g. ``VALUE_FILE``) names
    the argument in messages.

    Raises:
        InputError: the file does not exist, is a directory, or cannot be read.
    """
    if path == "-":
        return sys.stdin.buffer.read()
    label = f"{what} {path}" if what else path
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from None


def _exists(label: str) -> InputError:
    return InputError(f"{label}: already exists; pass --force to overwrite it")


def check_output_file(flag: str, path: Path, *, force: bool) -> None:
    """Refuse, before any work is done, an output file that cannot or must not be written.

    Raises:
        InputError: ``path`` is a directory, its directory does not exist, or the file exists
            and ``force`` is false.
    """
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: directory {parent} does not exist")
    if path.exists() and not force:
        raise _exists(f"{flag} {path}")


def check_output_dir(flag: str, path: Path, *, reuse: bool) -> None:
    """Refuse, before any work is done, an output directory that cannot or must not be used.

    ``reuse`` allows a directory that already holds files (a resumed or forced run).

    Raises:
        InputError: ``path`` is a file, or a directory with entries and ``reuse`` is false.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path}: exists and is not a directory")
    if path.is_dir() and not reuse and any(path.iterdir()):
        raise InputError(
            f"{flag} {path}: not empty; resume an interrupted export into it with "
            "--start-after KEY, pass --force to overwrite files of the same name, or choose an "
            "empty directory"
        )
    ancestor = next((p for p in path.parents if p.exists()), Path("."))
    if not ancestor.is_dir():
        raise InputError(f"{flag} {path}: {ancestor} is not a directory")


def private_dir(flag: str, path: Path) -> None:
    """Create ``path`` (and each missing parent) with mode 0700; an existing one is set to 0700.

    Raises:
        InputError: it cannot be created or is not a directory.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        for directory in reversed(missing):  # each level 0700, whatever the umask
            directory.mkdir(mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot create ({exc.strerror or exc})") from None
    if not path.is_dir():
        raise InputError(f"{flag} {path}: exists and is not a directory")


def write_private_file(
    path: Path | str, data: bytes, *, replace: bool = True, flag: str = ""
) -> None:
    """Write ``data`` to ``path`` with mode 0600, via a temp file renamed into place.

    With ``replace`` false an existing file is never replaced, even one created meanwhile.

    Raises:
        InputError: the directory does not exist or is not writable, or the file exists and
            ``replace`` is false.
    """
    path = Path(path)
    label = f"{flag} {path}" if flag else str(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise InputError(f"{label}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if the name exists: no window to clobber a new file
        except FileExistsError:
            raise _exists(label) from None
        except OSError:  # no hard links on this file system: check, then rename
            if path.exists():
                raise _exists(label) from None
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
