"""``pkcs11``: non-extractable AES-256 KEKs inside a PKCS#11 token (tested with SoftHSM2).

::

    type: pkcs11
    module: /usr/lib/softhsm/libsofthsm2.so  # default; relative: against plugin.yaml's directory;
                                             # a bare file name: the dynamic loader's search path
    tokenLabel: kms                          # found by label (SoftHSM slot ids are random)
    keyLabel: sealbox-kek                    # CKA_LABEL of this backend's KEKs (default)
    pinFile: hsm-pin                         # or pinEnv: SEALBOX_HSM_PIN; exactly one of them
    generateIfMissing: false                 # create the first KEK when the token has none
    rescanInterval: 10s                      # how often current_key_id looks for a newer KEK

The PIN is read once, when the backend is built, with one trailing newline removed. It is never a
config value, and never appears in a repr, an error or a log. The process logs in to a token
once; every backend on that token shares the login (:mod:`._runtime`).

KEKs are generated inside the token: ``CKK_AES``, 256 bits, ``CKA_TOKEN``, ``CKA_PRIVATE``,
``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``, usable for ``ENCRYPT``/``DECRYPT`` only. They share the
label ``keyLabel``; their ``CKA_ID`` carries a generation and a random tag, and the highest is
current. :func:`rotate_key` (``sealbox kms rotate-key``) adds ``generation + 1``. Old KEKs stay in
the token and keep unwrapping. A Sealbox KEK that is extractable, not sensitive or not AES-256 is
refused rather than used. Byte layouts (``CKA_ID``, key_id, ciphertext) are drawn in
:mod:`._format`; in short::

    key_id      pkcs11:token=<tokenLabel>;object=<keyLabel>;id=<CKA_ID, %-encoded>   (RFC 7512)
    ciphertext  0x01 ‖ nonce(12) ‖ AES-256-GCM in the token(plaintext, aad = key_id) ‖ tag(16)

Threads: every PKCS#11 call runs on the process's single PKCS#11 thread (:mod:`._runtime`,
shared by all ``pkcs11`` backends because the library itself is not thread-safe). That constraint
stays inside this package: the plugin only ever awaits a :class:`~sealbox.kms.backends.Backend`.

Processes: :func:`build` (``rotate-key``, tests, library callers) gives the blocking
:class:`Pkcs11Backend` in this process. ``sealbox kms serve`` (:data:`KIND`) runs the very same
backend in a worker process with its own interpreter (:mod:`._worker`) behind the natively async
:class:`Pkcs11Proxy` (:mod:`._proxy`, frames in :mod:`._wire`): python-pkcs11 releases the GIL
around every C call, and in the plugin process each re-acquire waited for the busy gRPC event
loop. Each ``pkcs11`` entry of plugin.yaml gets its own worker; each worker logs in to its token
once. There, a call running over 30 s gets its worker killed and restarted (the call answers
``BackendUnavailable``) rather than waited on.
"""

from __future__ import annotations

from sealbox.kms.backends.pkcs11._backend import Pkcs11Backend, build, open_backend, rotate_key
from sealbox.kms.backends.pkcs11._config import DEFAULT_MODULE, Config, Pin
from sealbox.kms.backends.pkcs11._kind import KIND
from sealbox.kms.backends.pkcs11._proxy import Pkcs11Proxy

__all__ = [
    "DEFAULT_MODULE",
    "KIND",
    "Config",
    "Pin",
    "Pkcs11Backend",
    "Pkcs11Proxy",
    "build",
    "open_backend",
    "rotate_key",
]
