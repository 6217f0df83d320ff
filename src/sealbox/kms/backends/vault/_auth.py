"""Logins and token lifecycle of the ``vault`` backend (private).

* :class:`TokenLogin` and :class:`MountLogin` (AppRole, Kubernetes) obtain a token. Their
  secrets (token, secret-id, service-account JWT) are read from a :class:`SecretSource` (a file or
  an environment variable) at every login, so a file rotated on disk (projected SA token, Vault
  Agent sink) is picked up.
* :class:`TokenManager` holds the current token and keeps it fresh lazily, on each call: once less
  than a third of the lease is left it renews the token (``renew-self``) when renewable, and logs
  in again when it is not (or when renewal no longer extends it, i.e. the max TTL is near). With
  ``token`` auth "logging in again" means re-reading the token source. After a 403 the caller asks
  :meth:`TokenManager.refresh_after_denied`, which logs in again at most once per few seconds and
  says whether a retry with a different token makes sense.

Requests go through :class:`~sealbox.kms.backends.vault._http.Transport`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sealbox.errors import AccessDenied, BackendRejected, BackendUnavailable, ServerFailed
from sealbox.kms.backends.vault._http import Transport
from sealbox.kms.backends.vault._secrets import SecretSource

__all__ = [
    "Lease",
    "LoginMethod",
    "MountLogin",
    "TokenLogin",
    "TokenManager",
    "approle_login",
    "kubernetes_login",
]

log = logging.getLogger("sealbox.kms.backends.vault")

# Re-login after a 403 at most this often: a policy that lacks a capability must not turn every
# request into a login.
FORCED_RELOGIN_INTERVAL = 5.0
# After a failed background refresh (renewal or login), wait this long before the next attempt.
REFRESH_RETRY_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class Lease:
    """A token and how long it lives.

    ``ttl`` is what was left when it was issued or looked up (0: it never expires, e.g. a root
    token); ``lifetime`` is its full TTL, the basis of the renew-at-one-third rule.
    """

    token: str = field(repr=False)
    ttl: float
    lifetime: float
    renewable: bool
    revocable: bool  # we logged in for it, so we may revoke it on close


class LoginMethod(Protocol):
    """How to get a token; ``describe`` names the method and its secret source for messages."""

    name: str
    can_relogin: bool  # False for token auth: "logging in" only re-reads the operator's token

    def describe(self) -> str: ...

    def login(self, transport: Transport) -> Lease: ...

    def secrets(self) -> tuple[str, ...]:
        """Secret values from the last login, to redact from any server message."""
        ...


def _lease_from_auth(body: Mapping[str, Any], *, what: str, transport: Transport) -> Lease:
    auth = body.get("auth")
    if not isinstance(auth, dict) or not isinstance(auth.get("client_token"), str):
        raise BackendUnavailable(f"{transport.label}: {what}: answer has no auth.client_token")
    ttl = float(auth.get("lease_duration") or 0)
    return Lease(
        token=auth["client_token"],
        ttl=ttl,
        lifetime=ttl,
        renewable=bool(auth.get("renewable")),
        revocable=True,
    )


class _SourcedLogin:
    """A login whose credential is read from a :class:`SecretSource` at every login.

    The last value read is kept only so that :meth:`secrets` can redact it from server messages.
    """

    def __init__(self, source: SecretSource) -> None:
        self.source = source
        self._last = ""

    def secrets(self) -> tuple[str, ...]:
        return (self._last,)

    def _read(self, transport: Transport) -> str:
        secret = self.source.read(transport.label)
        self._last = secret
        transport.secrets = (secret,)
        return secret


class TokenLogin(_SourcedLogin):
    """A token given by the operator: read it, then ``lookup-self`` to learn its TTL."""

    name = "token"
    can_relogin = False

    def describe(self) -> str:
        return f"token from {self.source.describe()}"

    def login(self, transport: Transport) -> Lease:
        token = self._read(transport)
        try:
            body = transport.call(
                "GET", "auth/token/lookup-self", what="token lookup-self", token=token
            )
        except AccessDenied:
            raise AccessDenied(
                f"{transport.label}: the {self.describe()} was refused (token lookup-self: "
                "permission denied): it is invalid or expired, or lacks the default policy"
            ) from None
        data = body.get("data")
        if not isinstance(data, dict):
            raise BackendUnavailable(f"{transport.label}: token lookup-self: answer has no data")
        ttl = float(data.get("ttl") or 0)
        if ttl <= 0 and data.get("expire_time"):
            ttl = 0.001  # expires within the second, not "never"
        lifetime = max(ttl, float(data.get("creation_ttl") or 0))
        return Lease(
            token=token,
            ttl=ttl,
            lifetime=lifetime,
            renewable=bool(data.get("renewable")),
            revocable=False,
        )


class MountLogin(_SourcedLogin):
    """``auth/<mount>/login`` with an identifier and a secret re-read at every login.

    AppRole posts ``role_id`` and ``secret_id``; Kubernetes posts ``role`` and the pod's
    service-account ``jwt`` (see :func:`approle_login` and :func:`kubernetes_login`).
    """

    can_relogin = True

    def __init__(
        self, name: str, mount: str, identity: tuple[str, str], secret: tuple[str, SecretSource]
    ) -> None:
        super().__init__(secret[1])
        self.name = name
        self.mount = mount
        self.identity = identity
        self.secret_field = secret[0]

    def describe(self) -> str:
        field, value = self.identity
        if field == "role":
            return f"{self.name} login at auth/{self.mount} as role {value}"
        return f"{self.name} login at auth/{self.mount} (secret-id from {self.source.describe()})"

    def login(self, transport: Transport) -> Lease:
        secret = self._read(transport)
        what = f"{self.name} login"
        body = transport.call(
            "POST",
            f"auth/{self.mount}/login",
            what=what,
            token=None,
            payload={self.identity[0]: self.identity[1], self.secret_field: secret},
        )
        return _lease_from_auth(body, what=what, transport=transport)


def approle_login(role_id: str, secret_id: SecretSource, mount: str) -> MountLogin:
    """AppRole: the role_id is an identifier, the secret_id a credential."""
    return MountLogin("approle", mount, ("role_id", role_id), ("secret_id", secret_id))


def kubernetes_login(role: str, jwt: SecretSource, mount: str) -> MountLogin:
    """Kubernetes: a Vault role and the pod's (projected) service-account token."""
    return MountLogin("kubernetes", mount, ("role", role), ("jwt", jwt))


class TokenManager:
    """The current token, refreshed lazily; counts renewals and logins for metrics.

    Thread-safe: refreshes happen under one lock, so concurrent callers wait for one refresh.
    """

    def __init__(
        self,
        transport: Transport,
        method: LoginMethod,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.method = method
        self.renewals = 0  # successful renew-self calls
        self.logins = 0  # successful logins (token auth: token sources read and looked up)
        self._clock = clock
        self._lock = threading.Lock()
        self._lease: Lease | None = None
        self._expires = 0.0  # monotonic deadline of the current lease (if ttl > 0)
        self._renewable = False
        self._generation = 0
        self._last_forced = float("-inf")
        self._next_attempt = float("-inf")
        self._warned = False

    def __repr__(self) -> str:
        return f"TokenManager({self.method.describe()}, logins={self.logins})"

    @property
    def generation(self) -> int:
        """Changes whenever the token changes; pass it to :meth:`refresh_after_denied`."""
        return self._generation

    def ttl_remaining(self) -> float | None:
        """Seconds until the token expires; ``None`` if not logged in or it never expires."""
        lease = self._lease
        if lease is None or lease.ttl <= 0:
            return None
        return max(0.0, self._expires - self._clock())

    def token(self) -> tuple[str, int]:
        """A usable token (logging in or renewing first when due) and its generation."""
        with self._lock:
            if self._lease is None:
                self._login()
            else:
                self._refresh_if_due()
            assert self._lease is not None
            return self._lease.token, self._generation

    def refresh_after_denied(self, generation: int) -> bool:
        """After a 403 with token ``generation``: whether retrying once may succeed."""
        with self._lock:
            if generation != self._generation:
                return True  # another caller already switched to a newer token
            now = self._clock()
            if now - self._last_forced < FORCED_RELOGIN_INTERVAL:
                return False
            self._last_forced = now
            try:
                return self._login()
            except (BackendRejected, BackendUnavailable) as err:
                log.warning("%s: login after a denied request failed: %s", self._label, err)
                return False

    def close(self) -> None:
        """Revoke a token we logged in for (never one the operator gave us)."""
        with self._lock:
            lease, self._lease = self._lease, None
        if lease is not None and lease.revocable:
            try:
                self.transport.call(
                    "POST", "auth/token/revoke-self", what="token revoke-self", token=lease.token
                )
            except (BackendRejected, BackendUnavailable) as err:
                log.debug("%s: revoking the token on close failed: %s", self._label, err)

    @property
    def _label(self) -> str:
        return self.transport.label

    def _login(self) -> bool:
        """Log in (token auth: re-read the token source); whether the token changed."""
        sent = self._clock()  # the lease started no earlier than this
        lease = self.method.login(self.transport)
        self.transport.secrets = (lease.token, *self.method.secrets())
        if self._lease is not None and lease.token == self._lease.token:
            # The operator's token source still holds the same token: only learn its TTL.
            self._expires = sent + lease.ttl
            return False
        self._lease = lease
        self._expires = sent + lease.ttl
        self._renewable = lease.renewable
        self._generation += 1
        self._warned = False
        self.logins += 1
        life = f"TTL {lease.ttl:g}s" if lease.ttl > 0 else "no expiry"
        renewable = ", renewable" if lease.renewable else ""
        log.info("%s: logged in (%s; %s%s)", self._label, self.method.describe(), life, renewable)
        return True

    def _refresh_if_due(self) -> None:
        lease = self._lease
        assert lease is not None
        if lease.ttl <= 0:
            return
        now = self._clock()
        remaining = self._expires - now
        if remaining > lease.lifetime / 3 or (remaining > 0 and now < self._next_attempt):
            return
        if self._renewable and remaining > 0 and self._renew(lease, now):
            return
        try:
            changed = self._login()
        except (BackendRejected, BackendUnavailable) as err:
            if remaining <= 0:
                raise
            self._next_attempt = now + REFRESH_RETRY_INTERVAL
            log.warning(
                "%s: token expires in %.0fs and logging in again failed: %s",
                self._label,
                remaining,
                err,
            )
            return
        if not changed:
            # The operator's token cannot be extended and its source still holds it.
            self._next_attempt = now + REFRESH_RETRY_INTERVAL
            if not self._warned:
                self._warned = True
                log.warning(
                    "%s: token expires in %.0fs and cannot be renewed; put a new token in the %s",
                    self._label,
                    self.ttl_remaining() or 0.0,
                    self.method.describe().removeprefix("token from "),
                )

    def _renew(self, lease: Lease, now: float) -> bool:
        """``renew-self``; whether the token now lives long enough."""
        try:
            body = self.transport.call(
                "POST", "auth/token/renew-self", what="token renew-self", token=lease.token
            )
            renewed = _lease_from_auth(body, what="token renew-self", transport=self.transport)
        except AccessDenied:
            self._renewable = False  # revoked or expired: log in again
            return False
        except (BackendRejected, BackendUnavailable) as err:
            if isinstance(err, ServerFailed) and "max ttl" in err.server_message.lower():
                self._renewable = False  # "past the max TTL, cannot renew"
                return False
            if self.method.can_relogin:
                log.info("%s: token renewal failed, logging in again: %s", self._label, err)
                return False
            self._next_attempt = now + REFRESH_RETRY_INTERVAL
            log.warning("%s: token renewal failed, will retry: %s", self._label, err)
            return True  # keep using the current token while it lasts
        self.renewals += 1
        self._expires = now + renewed.ttl
        log.debug("%s: token renewed for %gs", self._label, renewed.ttl)
        if renewed.ttl > lease.lifetime / 3 and renewed.renewable:
            return True
        # Capped by the token's max TTL: renewing again will not help, log in again when due.
        self._renewable = False
        return renewed.ttl > lease.lifetime / 3
