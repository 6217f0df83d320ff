"""The one thread every PKCS#11 call of this process runs on, and the token logins it keeps.

Why one thread for the whole process, not one per backend: python-pkcs11 calls
``C_Initialize(NULL)``, so the library runs without locks, and two threads inside SoftHSM at once
corrupt its heap (SoftHSM2 2.6.1 aborts in malloc with four). Two backends (two tokens, or a
primary and a decrypt-only key on one token) must therefore share the thread. It starts with the
first backend (:meth:`HsmRuntime.acquire`) and, when the last one closes, finalizes every library
it loaded and stops (so the next backend re-reads ``SOFTHSM2_CONF`` and the token list).

Why one login per token: PKCS#11 logs an *application* in, not a session, and closing a logged-in
session logs the whole process out. So every backend on a token shares one logged-in session, kept
until the last of them detaches. A second backend with another PIN is refused (compared through an
HMAC under a per-process random key; the PIN itself is never kept here).

Recovery: SoftHSM reads its token directory at ``C_Initialize``, so a library initialized while a
token was away never sees it come back, and old handles stay dead. :meth:`HsmRuntime.reset`
finalizes the library, at most once per :data:`RESET_MIN_SECONDS`, so the next call initializes it
again and logs in afresh. Everything but :meth:`acquire`, :meth:`release` and :meth:`run` must be
called on the HSM thread (through :meth:`run`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import pkcs11
from pkcs11.exceptions import PinIncorrect, PKCS11Error, UserAlreadyLoggedIn

from sealbox.errors import BackendUnavailable

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Library  # noqa: N812 - a class, named like one here
    from pkcs11.types import Session, Token

__all__ = ["CALL_TIMEOUT_SECONDS", "RESET_MIN_SECONDS", "RUNTIME", "HsmRuntime", "Login"]

T = TypeVar("T")

CALL_TIMEOUT_SECONDS = 30.0
RESET_MIN_SECONDS = 1.0
_FINALIZE_TIMEOUT_SECONDS = 10.0


@dataclass(eq=False)
class Login:
    """A logged-in session on one token; replaced by a new object after every reset."""

    token: Token
    session: Session
    serial: str
    pin_digest: bytes = field(repr=False)


class HsmRuntime:
    """A single worker thread plus the PKCS#11 state that lives on it."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._users = 0
        self._executor: ThreadPoolExecutor | None = None
        self._thread_id: int | None = None
        # Only touched on the HSM thread:
        self._libs: dict[str, Library] = {}
        self._logins: dict[tuple[str, str], Login] = {}
        self._token_users: Counter[tuple[str, str]] = Counter()
        self._last_reset: dict[str, float] = {}
        self._digest_key = os.urandom(32)

    # -- thread lifecycle (any thread) ---------------------------------------------------------

    def acquire(self) -> None:
        """Count one more user; starts the thread for the first."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="sealbox-pkcs11", initializer=self._mark
                )
            self._users += 1

    def release(self) -> None:
        """Count one user less; the last one finalizes the libraries and stops the thread."""
        with self._lock:  # held throughout, so no new thread can start while this one ends
            self._users -= 1
            if self._users > 0 or self._executor is None:
                return
            executor, self._executor = self._executor, None
            future = executor.submit(self._finalize_all)
            with contextlib.suppress(Exception):  # a hung library must not hang the shutdown
                future.result(_FINALIZE_TIMEOUT_SECONDS)
            executor.shutdown(wait=future.done())
            self._thread_id = None

    def run(self, fn: Callable[[], T], *, timeout: float | None = CALL_TIMEOUT_SECONDS) -> T:
        """Call ``fn`` on the HSM thread and wait for it (``timeout=None``: as long as it takes).

        Raises:
            BackendUnavailable: the call did not finish within ``timeout`` seconds.
            RuntimeError: no user holds the runtime (a closed backend was called).
        """
        if threading.get_ident() == self._thread_id:
            return fn()
        with self._lock:
            if self._executor is None:
                raise RuntimeError("the PKCS#11 thread is not running")
            future = self._executor.submit(fn)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise BackendUnavailable(
                f"the PKCS#11 library did not answer within {timeout:g}s"
            ) from None

    def _mark(self) -> None:
        self._thread_id = threading.get_ident()

    # -- on the HSM thread ---------------------------------------------------------------------

    def attach(self, module: str, token_label: str) -> None:
        self._token_users[module, token_label] += 1

    def detach(self, module: str, token_label: str) -> None:
        """One backend leaves the token; the last one logs the process out of it."""
        key = (module, token_label)
        self._token_users[key] -= 1
        if self._token_users[key] > 0:
            return
        del self._token_users[key]
        login = self._logins.pop(key, None)
        if login is not None:
            with contextlib.suppress(PKCS11Error):  # the token may be gone already
                login.session.close()

    def login(self, module: str, token_label: str, pin: str) -> Login:
        """The logged-in session on ``token_label``, opening it (and the library) if needed.

        Raises:
            PKCS11Error: from the library (``NoSuchToken``, ``PinIncorrect``, ...), or
                ``PinIncorrect`` when the process is logged in to the token with another PIN.
        """
        key = (module, token_label)
        digest = hmac.new(self._digest_key, pin.encode(), hashlib.sha256).digest()
        login = self._logins.get(key)
        if login is None:
            library = self._libs.get(module)
            if library is None or not library.initialized:
                library = self._libs[module] = pkcs11.lib(module)
            token = library.get_token(token_label=token_label)
            try:
                session = token.open(user_pin=pin)
            except UserAlreadyLoggedIn:
                # Logged in by a session we no longer track; it stays valid for this one.
                session = token.open()
            serial = token.serial.decode("ascii", "replace").strip()
            login = self._logins[key] = Login(token, session, serial, digest)
        elif not hmac.compare_digest(login.pin_digest, digest):
            raise PinIncorrect("the token is logged in with another PIN")
        return login

    def current_login(self, module: str, token_label: str) -> Login | None:
        """The logged-in session on ``token_label`` if there is one now; no library call."""
        return self._logins.get((module, token_label))

    def reset(self, module: str) -> bool:
        """Finalize ``module`` so the next login starts afresh; False if one ran just now."""
        now = self._clock()
        if now - self._last_reset.get(module, float("-inf")) < RESET_MIN_SECONDS:
            return False
        self._last_reset[module] = now
        for key in [key for key in self._logins if key[0] == module]:
            del self._logins[key]  # C_Finalize closes their sessions
        library = self._libs.get(module)
        if library is not None and library.initialized:
            with contextlib.suppress(PKCS11Error):
                library.finalize()
        return True

    def _finalize_all(self) -> None:
        for login in self._logins.values():
            with contextlib.suppress(PKCS11Error):
                login.session.close()
        self._logins.clear()
        self._token_users.clear()
        for library in self._libs.values():
            if library.initialized:
                with contextlib.suppress(PKCS11Error):
                    library.finalize()
        self._libs.clear()


RUNTIME = HsmRuntime()
"""The process-wide runtime every :class:`~sealbox.kms.backends.pkcs11.Pkcs11Backend` uses."""
