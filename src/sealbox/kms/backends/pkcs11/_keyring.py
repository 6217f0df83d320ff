"""The KEKs under one label in one token, as last listed; runs on the PKCS#11 thread only.

Listing takes one ``C_FindObjects`` plus one ``C_GetAttributeValue`` per key. Keys with the label
but without a Sealbox ``CKA_ID`` are skipped; a Sealbox key that is not a sensitive,
non-extractable AES-256 encrypt/decrypt key is refused (someone made or changed it by hand).

SoftHSM lists no objects at all for a token whose files vanished, so every listing first asks
for the token's info (``C_GetTokenInfo``), which fails then, and checks the serial number (a
re-initialized token with the same label is another token).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass
from pkcs11.types import DecryptMixin, EncryptMixin

from sealbox.errors import BackendRejected
from sealbox.kms.backends.pkcs11 import _format as fmt
from sealbox.kms.backends.pkcs11._runtime import Login

__all__ = ["KEY_BITS", "Kek", "Keyring", "TokenChanged"]

KEY_BITS = 256
_ATTRIBUTES = [
    Attribute.ID,
    Attribute.KEY_TYPE,
    Attribute.VALUE_LEN,
    Attribute.SENSITIVE,
    Attribute.EXTRACTABLE,
]

log = logging.getLogger("sealbox.kms.pkcs11")


class TokenChanged(Exception):
    """The label now names another token (re-initialized): the library must start over."""


@dataclass(frozen=True, slots=True)
class Kek:
    """One KEK object (the same handle, typed for each use)."""

    key_id: str
    kek_id: fmt.KekId
    encrypter: EncryptMixin
    decrypter: DecryptMixin


class Keyring:
    """What :meth:`rescan` last found; cleared by :meth:`forget` when the session is replaced."""

    def __init__(
        self, token_label: str, key_label: str, *, label: str, clock: Callable[[], float]
    ) -> None:
        self.token_label, self.key_label = token_label, key_label
        self.label = label  # the backend's, for messages
        self._clock = clock
        self.forget()

    def forget(self) -> None:
        """Drop what the last scan found (the session it came from is gone)."""
        self.keks: dict[str, Kek] = {}
        self.current: Kek | None = None
        self.scanned_at = float("-inf")

    def age(self) -> float:
        return self._clock() - self.scanned_at

    def check_token(self, login: Login) -> None:
        """Raises a PKCS#11 error if the token is gone, :class:`TokenChanged` if replaced."""
        serial = login.token.slot.get_token().serial.decode("ascii", "replace").strip()
        if serial != login.serial:
            raise TokenChanged

    def rescan(self, login: Login) -> None:
        self.check_token(login)
        template = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: self.key_label}
        keks: dict[str, Kek] = {}
        for obj in list(login.session.get_objects(template)):
            attrs = obj.get_attributes(_ATTRIBUTES)
            kek_id = fmt.KekId.parse(bytes(attrs[Attribute.ID]))
            if kek_id is None:
                continue  # same label, not made by Sealbox
            key_id = fmt.key_id_for(self.token_label, self.key_label, kek_id)
            if (
                attrs[Attribute.KEY_TYPE] != KeyType.AES
                or attrs[Attribute.VALUE_LEN] != KEY_BITS // 8
                or attrs[Attribute.SENSITIVE] is not True
                or attrs[Attribute.EXTRACTABLE] is not False
                or not isinstance(obj, EncryptMixin)
                or not isinstance(obj, DecryptMixin)
            ):
                raise BackendRejected(
                    f"{self.label}: refusing KEK {key_id[:200]!r}: not a sensitive, "
                    "non-extractable AES-256 encrypt/decrypt key"
                )
            keks[key_id] = Kek(key_id, kek_id, obj, obj)
        current = max(keks.values(), key=lambda kek: kek.kek_id, default=None)
        if current is not None and self.current is not None and current != self.current:
            log.info("current KEK changed", extra={"backend": self.label, "key_id": current.key_id})
        self.keks, self.current, self.scanned_at = keks, current, self._clock()

    def find(self, login: Login, key_id: str) -> Kek | None:
        """The KEK named ``key_id``; re-lists first if it was not there last time."""
        if key_id not in self.keks:
            self.rescan(login)  # made by another process since the last look, or deleted
        return self.keks.get(key_id)

    def generate(self, login: Login, kek_id: fmt.KekId) -> str:
        """Create a KEK inside the token; returns its key_id (call :meth:`rescan` to use it)."""
        # A read-write session without a PIN: the process is logged in already, and closing a
        # session opened with a PIN would log every other session out.
        session = login.token.open(rw=True)
        try:
            session.generate_key(
                KeyType.AES,
                KEY_BITS,
                id=kek_id.cka_id(),
                label=self.key_label,
                store=True,
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                },
            )
        finally:
            session.close()
        key_id = fmt.key_id_for(self.token_label, self.key_label, kek_id)
        log.info("KEK created", extra={"backend": self.label, "key_id": key_id})
        return key_id
