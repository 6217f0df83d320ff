"""The private keys a controller (or a recovery) holds, and how a value finds its key.

:class:`KeyRing` holds a controller's sealing keys (each with its certificate, so one is the
newest); :class:`KeySet` holds bare private keys given for a recovery or an inventory. Both open
values of either format the same way.

A value in the Sealbox envelope names its key, so opening it costs one RSA operation. An
upstream value names none: like the upstream controller, the ring tries its keys, but newest
first (upstream walks a Go map, in random order), so values sealed since the last renewal,
usually most of them, open at the first try. ``private_key_operations`` counts every RSA
decryption, for the controller's metrics and the benchmark.

The ring is shared between the controller's event loop and the worker threads that do the RSA
work, so changes and reads take a lock; a key is never modified, only added or discarded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import NoMatchingKey, NoSealingKey
from sealbox.sealing.envelope import is_envelope, open_envelope
from sealbox.sealing.hybrid import unseal
from sealbox.sealing.keys import SealingKey, public_key_fingerprint

__all__ = ["KeyRing", "KeySet"]

_Held = tuple[str, rsa.RSAPrivateKey]  # (fingerprint, private key)


def _open(
    value: bytes,
    label: bytes,
    ordered: Sequence[_Held],
    lookup: Callable[[str], rsa.RSAPrivateKey | None],
    on_attempt: Callable[[], None] | None = None,
) -> tuple[str, bytes]:
    """(fingerprint of the key that opened ``value``, plaintext): an envelope with the key it
    names, an upstream value by trying ``ordered`` in turn."""
    if is_envelope(value):
        used: list[str] = []

        def key_for(fingerprint: str) -> rsa.RSAPrivateKey | None:
            key = lookup(fingerprint)
            if key is not None:
                used.append(fingerprint)
            return key

        plaintext = open_envelope(value, label, key_for, on_attempt=on_attempt)
        return used[-1], plaintext
    for fingerprint, key in ordered:
        try:
            return fingerprint, unseal([key], value, label, on_attempt=on_attempt)
        except NoMatchingKey:
            continue
    raise NoMatchingKey(f"no key could decrypt secret ({len(ordered)} keys tried)")


class KeySet:
    """Bare private keys (no certificates: recovery key files, an inventory's keys), by
    fingerprint, tried in the order given."""

    def __init__(self, keys: Iterable[rsa.RSAPrivateKey] = ()) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        for key in keys:
            self._keys.setdefault(public_key_fingerprint(key.public_key()), key)
        self._ordered = tuple(self._keys.items())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeySet({len(self)} keys)"

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def open(self, value: bytes, label: bytes) -> bytes:
        """The plaintext of a sealed value, either format; raises as :meth:`KeyRing.open`."""
        return _open(value, label, self._ordered, self._keys.get)[1]

    def opened_by(self, value: bytes, label: bytes) -> str:
        """The fingerprint of the key that opens ``value``; raises as :meth:`open`."""
        return _open(value, label, self._ordered, self._keys.get)[0]


class KeyRing:
    """Sealing keys by fingerprint; ``keys`` and ``newest`` order them newest NotBefore first."""

    def __init__(self, keys: Iterable[SealingKey] = ()) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, SealingKey] = {}
        self._ordered: tuple[SealingKey, ...] = ()
        self._held: tuple[_Held, ...] = ()
        self._operations = 0
        for key in keys:
            self.add(key)

    def add(self, key: SealingKey) -> bool:
        """Hold ``key``; False if it was held already."""
        fingerprint = key.fingerprint
        with self._lock:
            if fingerprint in self._keys:
                return False
            self._keys[fingerprint] = key
            self._reorder()
            return True

    def discard(self, fingerprint: str) -> bool:
        """Stop holding the key with ``fingerprint``; False if it was not held."""
        with self._lock:
            if self._keys.pop(fingerprint, None) is None:
                return False
            self._reorder()
            return True

    def _reorder(self) -> None:
        # Newest NotBefore first; equal NotBefore keeps the later-added key first.
        added = list(self._keys.values())
        self._ordered = tuple(sorted(reversed(added), key=lambda key: key.not_before, reverse=True))
        self._held = tuple((key.fingerprint, key.private_key) for key in self._ordered)

    @property
    def keys(self) -> tuple[SealingKey, ...]:
        return self._ordered

    @property
    def newest(self) -> SealingKey:
        """The key new values are sealed to (and whose certificate is served)."""
        ordered = self._ordered
        if not ordered:
            raise NoSealingKey("no sealing key is held yet")
        return ordered[0]

    def get(self, fingerprint: str) -> SealingKey | None:
        return self._keys.get(fingerprint)

    def __len__(self) -> int:
        return len(self._ordered)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._keys

    def __repr__(self) -> str:
        return f"KeyRing({len(self)} keys)"

    @property
    def private_key_operations(self) -> int:
        """RSA decryptions done so far by :meth:`open` and :meth:`opened_by`."""
        return self._operations

    def _count(self) -> None:
        with self._lock:
            self._operations += 1

    def open(self, value: bytes, label: bytes) -> bytes:
        """The plaintext of a sealed value, either format, under the scope ``label``.

        Raises :class:`NoMatchingKey` (no key held opens it) or
        :class:`~sealbox.errors.SealedValueTooShort`.
        """
        return self._open(value, label)[1]

    def opened_by(self, value: bytes, label: bytes) -> SealingKey:
        """The key that opens ``value`` (for inventories); raises as :meth:`open`."""
        return self._open(value, label)[0]

    def _open(self, value: bytes, label: bytes) -> tuple[SealingKey, bytes]:
        with self._lock:  # one consistent view, even if a key is discarded meanwhile
            keys, held = dict(self._keys), self._held

        def private_key(fingerprint: str) -> rsa.RSAPrivateKey | None:
            key = keys.get(fingerprint)
            return None if key is None else key.private_key

        fingerprint, plaintext = _open(value, label, held, private_key, on_attempt=self._count)
        return keys[fingerprint], plaintext
