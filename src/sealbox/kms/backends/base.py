"""What the plugin asks of a key backend, and nothing more.

A backend wraps and unwraps small secrets (the apiserver's 32-byte DEK seeds) under a KEK it keeps,
and names its current KEK with a ``key_id``:

* ``key_id`` is stable while the KEK is unchanged and changes as soon as the KEK (or its version)
  changes, so the apiserver re-seeds; it never reuses an old value for a different key, is at
  most 1 KiB, and never contains key material. Each backend prefixes it with its type
  (``local:…``, ``pkcs11:…``, ``vault:…``, ``awskms:…``) so ``owns`` can route Decrypts.
* annotations returned by ``wrap`` are stored in plaintext in etcd next to the value: keys must
  be FQDNs (e.g. ``version.vault.sealbox.io``), total at most 32 KiB, and nothing secret.
* errors: :class:`~sealbox.errors.BackendUnavailable` for anything transient (network, server
  down, throttling, sealed Vault), :class:`~sealbox.errors.BackendRejected` when the backend
  answered and refused (tampered ciphertext, unknown or deleted key, permission denied). Never put
  plaintext, ciphertext or credentials in a message.

Methods are synchronous. ``blocking`` backends are called from a thread pool of ``threads``
workers; non-blocking ones (the local AES key) run inline on the event loop.

A backend may also be natively async (:class:`AsyncBackend`): it has
``async def call(method, *args)``, where ``method`` is ``"current_key_id"``, ``"wrap"`` or
``"unwrap"`` and ``args`` are that method's arguments, and the plugin awaits that instead of
calling the method, on no thread at all. Such a backend does its own waiting without blocking
the loop (the PKCS#11 backend as the plugin server runs it: a worker process behind pipes, see
:mod:`._pkcs11_proxy`); its synchronous methods may then be of limited use and say so. ``owns``
and ``close`` stay synchronous for every backend; ``close`` is called on the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from sealbox.kms import Wrapped

__all__ = ["AsyncBackend", "Backend", "BackendSettings"]


class Backend(Protocol):
    """One KEK holder: local file, PKCS#11 token, Vault transit key, AWS KMS key."""

    @property
    def kind(self) -> str:
        """The config ``type``: ``local``, ``pkcs11``, ``vault``, ``awskms``."""
        ...

    @property
    def label(self) -> str:
        """Where the KEK lives, for logs and metrics (no secrets): e.g. ``vault transit/k8s``."""
        ...

    @property
    def blocking(self) -> bool: ...

    @property
    def threads(self) -> int: ...

    def current_key_id(self) -> str:
        """The key_id new wraps would carry. May ask the remote service."""
        ...

    def wrap(self, plaintext: bytes) -> Wrapped:
        """Encrypt ``plaintext`` under the current KEK."""
        ...

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
        """Decrypt what ``wrap`` returned, under any KEK this backend still holds (rotation)."""
        ...

    def owns(self, key_id: str) -> bool:
        """Whether ``key_id`` could have come from this backend (cheap, local check)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncBackend(Backend, Protocol):
    """A backend the plugin awaits directly (see the module docstring)."""

    async def call(self, method: str, /, *args: object) -> object:
        """What ``getattr(self, method)(*args)`` returns, computed without blocking the loop."""
        ...


class BackendSettings(BaseModel):
    """Base of every backend's ``Config``: camelCase keys in YAML, unknown keys rejected.

    Credentials are never config values: a backend reads them from a file path or an environment
    variable named in its config, so plugin.yaml can be shared and logged.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )
