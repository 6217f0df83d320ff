"""One exception tree for every error a user can cause or fix.

::

    SealboxError                     exit 1 unless a subclass says otherwise
    ├── ConfigError                  a config file is unreadable or breaks a rule (exit 2)
    ├── InputError                   an argument, etcd key or input file is unusable (exit 2)
    ├── DecryptError                 stored bytes do not decrypt or do not parse
    ├── EncryptError                 a value cannot be written with the chosen provider
    ├── KMSPluginError               a KMS plugin answered outside the KMS API contract
    ├── BackendRejected              a key backend refused: bad ciphertext, unknown key, no access
    └── BackendUnavailable           a KMS plugin or key backend cannot be reached (exit 3)

Messages name the file, field path or etcd key involved and what would be valid. They never carry
a secret value, key, DEK or seed: a failed decryption says *that* it failed and for which key,
never which cryptographic step rejected it (no oracle). The CLI prints ``error: <message>`` and
exits with ``exit_code``; anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BackendRejected",
    "BackendUnavailable",
    "ConfigError",
    "ConfigIssue",
    "DecryptError",
    "EncryptError",
    "InputError",
    "KMSPluginError",
    "SealboxError",
]


class SealboxError(Exception):
    """Base of every error Sealbox reports to a user."""

    exit_code: int = 1


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One broken rule: where it is (a field path such as ``resources[0].providers[1]``) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(SealboxError):
    """A config file cannot be used; ``issues`` lists every broken rule found."""

    exit_code = 2

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = tuple(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        count = len(self.issues)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{source}: {count} {noun}\n{lines}")


class InputError(SealboxError):
    """An argument, etcd key or input file is unusable."""

    exit_code = 2


class DecryptError(SealboxError):
    """A stored value cannot be decrypted or decoded. Never says which step failed."""


class EncryptError(SealboxError):
    """A value cannot be encrypted with the configured write provider."""


class KMSPluginError(SealboxError):
    """A KMS plugin answered, but with a wrong version, key_id or response shape."""


class BackendRejected(SealboxError):
    """A key backend answered and refused (wrong key, tampered ciphertext, access denied).

    Caused by the request or by the user's own setup, so retrying does not help and it must not
    make a plugin look unhealthy to a liveness probe.
    """


class BackendUnavailable(SealboxError):
    """A KMS plugin (or another key backend) did not answer; retrying later may work."""

    exit_code = 3
