"""Check a running KMS v2 plugin the way kube-apiserver uses it (``sealbox kms status``).

:func:`check_plugin` asks Status, then wraps a fresh random 32-byte seed with Encrypt and
unwraps it with Decrypt, each call with the given timeout as its deadline, as the apiserver does
(kms-spec 2.6.4, 2.6.5, 3.3). Any plugin speaking the KMS v2 API can be checked, not only
Sealbox's. The plugin is healthy when every rule the apiserver applies holds:

* Status answers, with ``version`` ``v2`` (or ``v2beta1``, which the apiserver accepts as the
  same), ``healthz`` ``ok`` and a valid key_id;
* Encrypt answers within the API's limits (ciphertext 1..1024 bytes, annotation keys FQDNs,
  32 KiB in all), under the key_id Status reported (else the apiserver does not rotate to it);
* Decrypt gives the seed back.

The result, :class:`PluginCheck`, never holds the seed, the ciphertext or a raw key_id: key_ids
appear as their ``sha256:<hex>`` hash, the form the apiserver logs and exports.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sealbox.errors import SealboxError
from sealbox.kms import (
    InvalidField,
    PluginStatus,
    Wrapped,
    endpoint_url,
    key_id_hash,
    validate_annotations,
    validate_ciphertext,
    validate_key_id,
)
from sealbox.kms.client._clients import KMSv2Client

__all__ = ["ACCEPTED_VERSIONS", "PluginCheck", "check_plugin"]

ACCEPTED_VERSIONS = ("v2", "v2beta1")
_SEED_BYTES = 32
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Address:
    """A :class:`~sealbox.kms.PluginAddress` for one socket."""

    name: str
    endpoint: str
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class PluginCheck:
    """What :func:`check_plugin` found; ``problems`` is empty when the plugin is healthy.

    ``status_ms``, ``encrypt_ms`` and ``decrypt_ms`` are ``None`` for a call that was not made
    or did not answer; hashes are ``""`` when unknown.
    """

    socket: str
    endpoint: str
    version: str = ""
    healthz: str = ""
    key_id_hash: str = ""
    status_ms: float | None = None
    encrypt_key_id_hash: str = ""
    ciphertext_bytes: int = 0
    annotations: tuple[str, ...] = ()
    encrypt_ms: float | None = None
    decrypt_ms: float | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def round_trip_ok(self) -> bool:
        return self.decrypt_ms is not None and not any(
            problem.startswith(("Encrypt", "Decrypt")) for problem in self.problems
        )

    def as_dict(self) -> dict[str, Any]:
        """The ``sealbox kms status -o json|yaml`` document."""
        return {
            "socket": self.socket,
            "endpoint": self.endpoint,
            "healthy": self.healthy,
            "status": {
                "version": self.version,
                "healthz": self.healthz,
                "keyIdHash": self.key_id_hash,
                "ms": _rounded(self.status_ms),
            },
            "roundTrip": {
                "ok": self.round_trip_ok,
                "keyIdHash": self.encrypt_key_id_hash,
                "ciphertextBytes": self.ciphertext_bytes,
                "annotations": list(self.annotations),
                "encryptMs": _rounded(self.encrypt_ms),
                "decryptMs": _rounded(self.decrypt_ms),
            },
            "problems": list(self.problems),
        }


def _rounded(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 2)


class _Timed:
    """Runs calls, timing the ones that answer and noting the failures as problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def call(self, what: str, call: Callable[[], T]) -> tuple[T | None, float | None]:
        started = time.perf_counter()
        try:
            result = call()
        except SealboxError as exc:
            self.problems.append(f"{what} failed: {exc}")
            return None, None
        return result, (time.perf_counter() - started) * 1000

    def check(self, what: str, rule: Callable[[], None]) -> None:
        try:
            rule()
        except InvalidField as exc:
            self.problems.append(f"{what}: {exc}, which kube-apiserver rejects")


def _socket_problem(socket: str) -> str:
    if socket.startswith("@"):
        return ""
    try:
        mode = os.stat(socket).st_mode
    except FileNotFoundError:
        return f"no socket at {socket}: is the plugin running, and is this its --socket?"
    except OSError as exc:
        return f"cannot reach {socket}: {exc.strerror}"
    if not stat.S_ISSOCK(mode):
        return f"{socket} is not a unix socket"
    return ""


def check_plugin(socket: str, *, timeout: float) -> PluginCheck:
    """Check the KMS v2 plugin listening on ``socket`` (a path, or ``@name``), each call with
    ``timeout`` seconds as its deadline. Never raises for what the plugin does: every failure is
    a problem in the result."""
    endpoint = endpoint_url(socket)
    problem = _socket_problem(socket)
    if problem:
        return PluginCheck(socket, endpoint, problems=(problem,))
    client = KMSv2Client(_Address("status", endpoint, timeout))
    try:
        return _check(client, socket, endpoint)
    finally:
        client.close()


def _check(client: KMSv2Client, socket: str, endpoint: str) -> PluginCheck:
    timed = _Timed()
    status, status_ms = timed.call("Status", client.status)
    if status is None:
        return PluginCheck(socket, endpoint, problems=tuple(timed.problems))
    _check_status(timed, status)
    seed = os.urandom(_SEED_BYTES)
    wrapped, encrypt_ms = timed.call("Encrypt", lambda: client.encrypt(seed, uid=str(uuid.uuid4())))
    decrypt_ms = None
    if wrapped is not None:
        _check_wrapped(timed, wrapped, status)
        plaintext, decrypt_ms = timed.call(
            "Decrypt",
            lambda: client.decrypt(
                wrapped.ciphertext,
                uid=str(uuid.uuid4()),
                key_id=wrapped.key_id,
                annotations=wrapped.annotations,
            ),
        )
        if plaintext is not None and plaintext != seed:
            timed.problems.append("Decrypt returned other bytes than Encrypt was given")
            decrypt_ms = None
    return PluginCheck(
        socket,
        endpoint,
        version=status.version[:64],
        healthz=status.healthz[:300],
        key_id_hash=key_id_hash(status.key_id) if status.key_id else "",
        status_ms=status_ms,
        encrypt_key_id_hash=key_id_hash(wrapped.key_id) if wrapped and wrapped.key_id else "",
        ciphertext_bytes=len(wrapped.ciphertext) if wrapped else 0,
        annotations=tuple(sorted(name[:253] for name in wrapped.annotations)) if wrapped else (),
        encrypt_ms=encrypt_ms,
        decrypt_ms=decrypt_ms,
        problems=tuple(timed.problems),
    )


def _check_status(timed: _Timed, status: PluginStatus) -> None:
    if status.version not in ACCEPTED_VERSIONS:
        timed.problems.append(
            f"Status version is {status.version[:64]!r}; kube-apiserver accepts only v2 "
            "(or v2beta1)"
        )
    if status.healthz != "ok":
        timed.problems.append(f"Status healthz is {status.healthz[:300]!r}, not 'ok'")
    timed.check("Status key_id", lambda: validate_key_id(status.key_id))


def _check_wrapped(timed: _Timed, wrapped: Wrapped, status: PluginStatus) -> None:
    timed.check("Encrypt ciphertext", lambda: validate_ciphertext(wrapped.ciphertext))
    timed.check("Encrypt key_id", lambda: validate_key_id(wrapped.key_id))
    timed.check("Encrypt annotations", lambda: validate_annotations(wrapped.annotations))
    if status.key_id and wrapped.key_id != status.key_id:
        timed.problems.append(
            "Encrypt key_id differs from Status key_id: kube-apiserver would not rotate to it"
        )
