"""The ``pkcs11`` backend in this process: :class:`Pkcs11Backend`, blocking, on the PKCS#11 thread.

See the package docstring for the config, the KEK rules and how the plugin runs it.

Another process's new KEK is visible to an open SoftHSM session, so :meth:`current_key_id` (and
``wrap``) re-list the KEKs at most every ``rescanInterval``, and ``unwrap`` re-lists at once when it
meets an unknown key_id.

Errors: an unknown or deleted key, a ciphertext the token will not decrypt, and keys that break
the rules above raise :class:`~sealbox.errors.BackendRejected`. A rejected or locked PIN raises
:class:`~sealbox.errors.AccessDenied` (the token refuses the plugin, not the request), and is
never tried again by this backend (HSMs lock a PIN after a few failures). A missing token, a
lost session or device, or a library that cannot be loaded raise
:class:`~sealbox.errors.BackendUnavailable`, after one reset of the library and one retry (so a
token that comes back is used again without a restart). A call that takes longer than 30 s
raises ``BackendUnavailable`` too, while the PKCS#11 thread keeps waiting for the library.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from pkcs11 import Mechanism
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from sealbox.errors import AccessDenied, BackendRejected, BackendUnavailable, SealboxError
from sealbox.kms import Wrapped
from sealbox.kms.backends.pkcs11 import _format as fmt
from sealbox.kms.backends.pkcs11._config import Config, Pin, module_path, read_pin
from sealbox.kms.backends.pkcs11._keyring import Kek, Keyring, TokenChanged
from sealbox.kms.backends.pkcs11._runtime import RUNTIME, HsmRuntime, Login

__all__ = ["Pkcs11Backend", "build", "open_backend", "rotate_key"]

T = TypeVar("T")

log = logging.getLogger("sealbox.kms.pkcs11")

# Errors after which the session, the token or the whole library must be opened afresh.
_LOST = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.UserNotLoggedIn,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.DeviceRemoved,
    p11.DeviceError,
    p11.DeviceMemory,
    p11.ObjectHandleInvalid,
    p11.KeyHandleInvalid,
    p11.NoSuchToken,
    p11.GeneralError,
    TokenChanged,
)
# C_Login refused the PIN: never try it again (real HSMs lock the PIN after a few failures).
_PIN = (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.UserPinNotInitialized)
_PIN_BLOCKED = (p11.PinLocked, p11.PinExpired)
_REFUSED = (
    p11.MechanismInvalid,
    p11.MechanismParamInvalid,
    p11.KeyTypeInconsistent,
    p11.FunctionNotSupported,
    p11.MultipleTokensReturned,
    p11.TokenWriteProtected,
)
# What C_Decrypt says about a ciphertext that does not authenticate (SoftHSM: GeneralError).
_BAD_CIPHERTEXT = (
    p11.GeneralError,
    p11.EncryptedDataInvalid,
    p11.EncryptedDataLenRange,
    p11.DataInvalid,
    p11.DataLenRange,
    p11.FunctionFailed,
)


class Pkcs11Backend:
    """KEKs in one token under one label; the newest wraps, any unwraps."""

    kind = "pkcs11"

    def __init__(
        self,
        *,
        module: str,
        token_label: str,
        key_label: str,
        pin: Pin,
        rescan_seconds: float = 10.0,
        runtime: HsmRuntime = RUNTIME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # ``runtime`` is for tests: two runtimes are two threads inside one library.
        self.module = module
        self.token_label = token_label
        self.key_label = key_label
        self.label = f"pkcs11 token {token_label!r} key {key_label!r}"
        self._pin = pin
        self._prefix = fmt.key_id_prefix(token_label, key_label)
        self._rescan_seconds = rescan_seconds
        self._runtime = runtime
        self._closed = False
        self._pin_refused: str | None = None
        # State below lives on the PKCS#11 thread.
        self._login: Login | None = None
        self._keyring = Keyring(token_label, key_label, label=self.label, clock=clock)
        runtime.acquire()
        try:
            runtime.run(lambda: runtime.attach(module, token_label))
        except BaseException:
            runtime.release()
            raise

    # -- Backend protocol ----------------------------------------------------------------------

    def current_key_id(self) -> str:
        """The current KEK's key_id; always checks that the token is there (a cheap call)."""
        return self._call(lambda login: self._current(login, check=True).key_id)

    def wrap(self, plaintext: bytes) -> Wrapped:
        return self._call(lambda login: self._wrap(login, plaintext))

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
        if not self.owns(key_id):
            raise BackendRejected(f"{self.label}: key_id {key_id[:200]!r} is not one of its keys")
        try:
            nonce, sealed = fmt.split_ciphertext(ciphertext)
        except ValueError as exc:
            raise BackendRejected(f"{self.label}: {exc}") from None
        return self._call(lambda login: self._unwrap(login, key_id, nonce, sealed))

    def owns(self, key_id: str) -> bool:
        return fmt.parse_key_id(key_id, self._prefix) is not None

    def close(self) -> None:
        """Leave the token (the last backend on it logs out) and release the PKCS#11 thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runtime.run(self._leave)
        finally:
            self._runtime.release()

    # -- management ----------------------------------------------------------------------------

    def start(self, *, generate_if_missing: bool = False) -> None:
        """Log in and find the KEKs; create the first one if asked and none exists.

        Raises:
            AccessDenied: the token refused the PIN, or it is locked.
            BackendRejected: no KEK and ``generate_if_missing`` is false.
            BackendUnavailable: the library or the token cannot be reached.
        """
        self._call(lambda login: self._first_scan(login, generate_if_missing=generate_if_missing))

    def rotate(self) -> str:
        """Create a KEK (generation + 1) in the token; it becomes current. Returns its key_id."""
        return self._call(self._rotate)

    def __repr__(self) -> str:
        return (
            f"Pkcs11Backend(module={self.module!r}, token={self.token_label!r}, "
            f"key={self.key_label!r}, keys={len(self._keyring.keks)})"
        )

    # -- on the PKCS#11 thread -----------------------------------------------------------------

    def _call(self, op: Callable[[Login], T]) -> T:
        if self._closed:
            raise BackendUnavailable(f"{self.label}: the backend is closed")
        if self._pin_refused is not None:
            raise AccessDenied(self._pin_refused)
        return self._runtime.run(lambda: self._guarded(op))

    def _guarded(self, op: Callable[[Login], T]) -> T:
        """Run ``op`` logged in; map PKCS#11 errors; after a lost token, reset once and retry."""
        for attempt in (1, 2):
            try:
                return op(self._logged_in())
            except SealboxError:
                raise
            except (*_PIN, *_PIN_BLOCKED) as exc:
                how = "was rejected" if isinstance(exc, _PIN) else "is locked or expired"
                self._pin_refused = f"{self.label}: the PIN for token {self.token_label!r} {how}"
                raise AccessDenied(self._pin_refused) from exc
            except _REFUSED as exc:
                raise BackendRejected(
                    f"{self.label}: the token refused the operation ({type(exc).__name__})"
                ) from exc
            except _LOST as exc:
                was_working = self._login is not None
                self._forget()
                if attempt == 1 and self._runtime.reset(self.module):
                    log.log(
                        logging.WARNING if was_working else logging.DEBUG,
                        "PKCS#11 token lost; re-initializing the library",
                        extra={"backend": self.label, "error": type(exc).__name__},
                    )
                    continue
                if isinstance(exc, p11.NoSuchToken):
                    raise BackendUnavailable(
                        f"{self.label}: no token labelled {self.token_label!r} is present"
                    ) from exc
                raise BackendUnavailable(
                    f"{self.label}: token unavailable ({type(exc).__name__})"
                ) from exc
            except p11.PKCS11Error as exc:  # loading the library, uninitialized, anything else
                self._forget()
                raise BackendUnavailable(
                    f"{self.label}: PKCS#11 call failed ({_describe(exc)})"
                ) from exc
        raise AssertionError("unreachable")

    def _logged_in(self) -> Login:
        login = self._login
        runtime = self._runtime
        if login is not None and runtime.current_login(self.module, self.token_label) is login:
            return login  # the very session this backend's PIN was checked against: no HMAC
        login = self._runtime.login(self.module, self.token_label, self._pin.reveal())
        if login is not self._login:
            self._forget()
            self._login = login
        return login

    def _forget(self) -> None:
        self._login = None
        self._keyring.forget()

    def _leave(self) -> None:
        self._forget()
        self._runtime.detach(self.module, self.token_label)

    def _current(self, login: Login, *, check: bool = False) -> Kek:
        keyring = self._keyring
        if keyring.current is None or keyring.age() >= self._rescan_seconds:
            keyring.rescan(login)
        elif check:
            keyring.check_token(login)
        if keyring.current is None:
            raise BackendRejected(
                f"{self.label}: the token holds no KEK labelled {self.key_label!r}; create one "
                "with `sealbox kms rotate-key` or set generateIfMissing: true"
            )
        return keyring.current

    def _first_scan(self, login: Login, *, generate_if_missing: bool) -> None:
        self._keyring.rescan(login)
        if self._keyring.current is None and generate_if_missing:
            self._keyring.generate(login, fmt.KekId.new(1))
            self._keyring.rescan(login)
        self._current(login)

    def _rotate(self, login: Login) -> str:
        self._keyring.rescan(login)
        current = self._keyring.current
        key_id = self._keyring.generate(
            login, fmt.KekId.new(current.kek_id.generation + 1 if current is not None else 1)
        )
        self._keyring.rescan(login)
        return key_id

    def _wrap(self, login: Login, plaintext: bytes) -> Wrapped:
        kek = self._current(login)
        nonce = os.urandom(fmt.NONCE_BYTES)
        sealed = kek.encrypter.encrypt(
            plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(nonce, kek.key_id)
        )
        assert isinstance(sealed, bytes)
        return Wrapped(ciphertext=fmt.join_ciphertext(nonce, sealed), key_id=kek.key_id)

    def _unwrap(self, login: Login, key_id: str, nonce: bytes, sealed: bytes) -> bytes:
        kek = self._keyring.find(login, key_id)
        if kek is None:
            raise BackendRejected(f"{self.label}: no KEK with key_id {key_id[:200]!r} in the token")
        try:
            plaintext = kek.decrypter.decrypt(
                sealed, mechanism=Mechanism.AES_GCM, mechanism_param=_gcm(nonce, key_id)
            )
        except _BAD_CIPHERTEXT:
            self._keyring.check_token(login)  # a vanished token also says GeneralError
            raise BackendRejected(
                f"{self.label}: the ciphertext does not decrypt under key_id {key_id[:200]!r}"
            ) from None
        assert isinstance(plaintext, bytes)
        return plaintext


def _describe(exc: p11.PKCS11Error) -> str:
    # Library messages name paths, labels and attribute templates, never PINs or key bytes.
    detail = str(exc).strip()[:200]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _gcm(nonce: bytes, key_id: str) -> GCMParams:
    return GCMParams(nonce, key_id.encode(), fmt.TAG_BYTES * 8)


def open_backend(
    config: Config, *, base_dir: Path, environ: Mapping[str, str] | None = None
) -> Pkcs11Backend:
    """Read the PIN and make the backend, not logged in yet (:meth:`Pkcs11Backend.start` does).

    Raises:
        ConfigError: the PIN file or variable is missing, unreadable or empty.
    """
    pin = read_pin(config, base_dir=base_dir, environ=os.environ if environ is None else environ)
    return Pkcs11Backend(
        module=module_path(config.module, base_dir),
        token_label=config.token_label,
        key_label=config.key_label,
        pin=pin,
        rescan_seconds=config.rescan_seconds,
    )


def build(
    config: Config, *, base_dir: Path, environ: Mapping[str, str] | None = None
) -> Pkcs11Backend:
    """Read the PIN, log in to the token and find the current KEK.

    Raises:
        ConfigError: the PIN file or variable is missing, unreadable or empty.
        AccessDenied: the token refused the PIN, or it is locked.
        BackendRejected: the token holds no KEK (see generateIfMissing).
        BackendUnavailable: the library cannot be loaded or the token is not there.
    """
    backend = open_backend(config, base_dir=base_dir, environ=environ)
    try:
        backend.start(generate_if_missing=config.generate_if_missing)
    except BaseException:
        backend.close()
        raise
    return backend


def rotate_key(config: Config, *, base_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """Create a new KEK in the token; running plugins pick it up within ``rescanInterval``.

    Returns the new key_id. Old KEKs are kept, so everything they wrapped still unwraps.

    Raises:
        ConfigError, AccessDenied, BackendRejected, BackendUnavailable: as :func:`build`.
    """
    backend = open_backend(config, base_dir=base_dir, environ=environ)
    try:
        return backend.rotate()
    finally:
        backend.close()
