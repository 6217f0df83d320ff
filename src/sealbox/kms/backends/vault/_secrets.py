"""Where the ``vault`` backend's login secrets come from (private).

A :class:`SecretSource` names a file or an environment variable holding a token, secret-id or
service-account JWT; it is read again at every login, so a file rotated on disk is picked up.
A missing, unreadable or empty source is a :class:`~sealbox.errors.CredentialError` naming the
config setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sealbox.errors import CredentialError

__all__ = ["SecretSource"]


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a secret comes from: a file (re-read at every login) or an environment variable."""

    setting: str
    path: Path | None = None
    env: str | None = None

    def describe(self) -> str:
        return f"file {self.path}" if self.path is not None else f"environment variable {self.env}"

    def read(self, label: str) -> str:
        """The secret, stripped; ``label`` names the backend in a CredentialError."""
        if self.path is not None:
            try:
                value = self.path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as err:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else "unreadable"
                raise CredentialError(
                    label, self.setting, f"cannot read {self.path}: {reason}"
                ) from None
        else:
            assert self.env is not None
            value = os.environ.get(self.env, "").strip()
        if not value:
            raise CredentialError(label, self.setting, f"{self.describe()} is empty or unset")
        return value
