"""File plumbing shared by commands: read input bytes (``-`` = stdin), write output atomically."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from sealbox.errors import InputError

__all__ = ["read_input", "write_private_file"]


def read_input(path: str) -> bytes:
    """The raw bytes of ``path``, or of stdin for ``-``.

    Raises:
        InputError: the file does not exist or cannot be read.
    """
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def write_private_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, via a temp file renamed into place.

    Raises:
        InputError: the directory does not exist or is not writable.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
