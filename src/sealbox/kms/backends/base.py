"""What the plugin asks of a key backend, and nothing more (as aws-encryption-provider's seam).

A backend wraps and unwraps small secrets (the apiserver's 32-byte DEK seeds) under a KEK it keeps,
and names its current KEK with a ``key_id``:

* ``key_id`` is stable while the KEK is unchanged and changes as soon as the KEK (or its version)
  changes, so the apiserver re-seeds; it never reuses an old value for a different key, is at
  most 1 KiB, and never contains key material. Each backend prefixes it with its type
  (``local:…``, ``pkcs11:…``, ``vault:…``, ``awskms:…``) so ``owns`` can route Decrypts.
* annotations returned by ``wrap`` are stored in plaintext in etcd next to the value: keys must
  be FQDNs (e.g. ``version.vault.sealbox.io``), total at most 32 KiB, and nothing secret.
* errors: :class:`~sealbox.errors.BackendRejected` when the backend refused the *request*
  (tampered ciphertext, unknown, deleted or disabled key);
  :class:`~sealbox.errors.BackendUnavailable` when it cannot serve anybody now (network, server
  down, throttling, sealed Vault), and its :class:`~sealbox.errors.AccessDenied` when it refuses
  the plugin's own credential (Vault 401/403, a PKCS#11 PIN rejected or locked, AWS access
  denied). Never put plaintext, ciphertext or credentials in a message.
* time: a call serves a KMS call with a deadline. The plugin enforces it (it answers UNAVAILABLE
  in time whatever the backend does); a backend that waits on the network sizes each request to
  it with :func:`~.deadline.network_timeout`, so its threads and connections are free again
  when the answer is due.

:class:`Backend` is what the plugin awaits, on its event loop: ``current_key_id``, ``wrap`` and
``unwrap`` are coroutines, and *how* each backend waits is its own business, never the plugin's.
The local key computes in place; a backend on a blocking SDK (Vault, AWS KMS) implements
:class:`BlockingBackend` and is served through :class:`~.threads.ThreadedBackend`, on threads of
its own; the PKCS#11 backend awaits a worker process over pipes (:mod:`.pkcs11`). ``owns`` (a
cheap local check) and ``close`` (called once, on the event loop's thread) are synchronous.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sealbox.kms import Wrapped

__all__ = ["Backend", "BlockingBackend"]


class Backend(Protocol):
    """One KEK holder as the plugin serves it: local file, PKCS#11 token, Vault key, AWS key."""

    @property
    def kind(self) -> str:
        """The config ``type``: ``local``, ``pkcs11``, ``vault``, ``awskms``."""
        ...

    @property
    def label(self) -> str:
        """Where the KEK lives, for logs and metrics (no secrets): e.g. ``vault transit/k8s``."""
        ...

    async def current_key_id(self) -> str:
        """The key_id new wraps would carry. May ask the remote service."""
        ...

    async def wrap(self, plaintext: bytes) -> Wrapped:
        """Encrypt ``plaintext`` under the current KEK."""
        ...

    async def unwrap(
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        """Decrypt what ``wrap`` returned, under any KEK this backend still holds (rotation)."""
        ...

    def owns(self, key_id: str) -> bool:
        """Whether ``key_id`` could have come from this backend (cheap, local check)."""
        ...

    def close(self) -> None: ...


class BlockingBackend(Protocol):
    """The same calls, made synchronously: a backend whose SDK blocks while it waits.

    The plugin serves one through :class:`~.threads.ThreadedBackend`; tools and tests call it
    directly.
    """

    @property
    def kind(self) -> str: ...

    @property
    def label(self) -> str: ...

    def current_key_id(self) -> str: ...

    def wrap(self, plaintext: bytes) -> Wrapped: ...

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes: ...

    def owns(self, key_id: str) -> bool: ...

    def close(self) -> None: ...
