"""One OpenBao/Vault store's single token (used by :mod:`.vault`), over its
:class:`~.vault_channel.VaultChannel` (re-exported here).

:class:`TokenSession` holds the store's one token:

* it logs in on first use (token auth: reads the token Secret and looks it up to learn its TTL;
  AppRole and Kubernetes: ``auth/<mount>/login``), never per request;
* a background task renews the token (``renew-self``) once two thirds of its lease have passed,
  and logs in again when it cannot be renewed (not renewable, or capped by its max TTL); every
  request also checks, so a token is never used past its expiry;
* a refused login (wrong token, secret-id, role, service-account JWT) is remembered: until the
  backoff (doubling from :data:`AUTH_BACKOFF_MIN` to :data:`AUTH_BACKOFF_MAX`) has passed every
  call fails at once with :class:`~sealbox.errors.ProviderAuthError` and sends nothing, so a wrong
  credential never becomes a login storm;
* a 403 on a read with a token that was good may mean it was revoked: one new login, at most once
  per backoff window, then the 403 is the answer (a policy that lacks the path);
* :meth:`TokenSession.close` revokes a token it logged in for (``revoke-self``); an operator's
  token (token auth) is never revoked.

This is the asyncio counterpart of the KMS ``vault`` backend's token lifecycle (same renewal and
re-login rules), on the sync controller's event loop with credentials handed in as values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sealbox.errors import ProviderAuthError, ProviderError, ProviderUnavailable
from sealbox.sync.providers.vault_channel import VaultChannel

__all__ = [
    "AUTH_BACKOFF_MAX",
    "AUTH_BACKOFF_MIN",
    "Lease",
    "Login",
    "TokenSession",
    "VaultChannel",
    "mount_login",
    "token_login",
]

log = logging.getLogger("sealbox.sync.providers.vault")

AUTH_BACKOFF_MIN = 5.0
"""Seconds before the first new login after a refused one; doubles at each refusal."""
AUTH_BACKOFF_MAX = 300.0
"""The longest wait between logins while the credential keeps being refused."""
RENEW_RETRY_SECONDS = 5.0
"""After a failed background renewal, wait this long before the next attempt."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A token and its life: ``ttl`` seconds left when issued (0: never expires), ``renewable``,
    and ``revocable`` (we logged in for it, so close revokes it)."""

    token: str = field(repr=False)
    ttl: float
    renewable: bool
    revocable: bool


Login = Callable[[VaultChannel], Awaitable[Lease]]
"""How a store gets a token: reads its credential (through the store context) and logs in."""


def _lease(body: Mapping[str, Any] | None, channel: VaultChannel, what: str) -> Lease:
    auth = body.get("auth") if body else None
    if not isinstance(auth, dict) or not isinstance(auth.get("client_token"), str):
        raise ProviderUnavailable(channel.store, f"{what}: answer has no auth.client_token")
    return Lease(
        token=auth["client_token"],
        ttl=float(auth.get("lease_duration") or 0),
        renewable=bool(auth.get("renewable")),
        revocable=True,
    )


def token_login(read_token: Callable[[], Awaitable[str]]) -> Login:
    """Token auth: the token the store's Secret holds, looked up (``lookup-self``) for its TTL."""

    async def login(channel: VaultChannel) -> Lease:
        token = await read_token()
        channel.secrets = (token,)
        body = await channel.call(
            "GET", "auth/token/lookup-self", token=token, what="token lookup (tokenSecretRef)"
        )
        data = body.get("data") if body else None
        if not isinstance(data, dict):
            raise ProviderAuthError(channel.store, "token lookup (tokenSecretRef): token unknown")
        ttl = float(data.get("ttl") or 0)
        if ttl <= 0 and data.get("expire_time"):
            ttl = 0.001  # expires within the second, not "never"
        return Lease(token=token, ttl=ttl, renewable=bool(data.get("renewable")), revocable=False)

    return login


def mount_login(
    method: str,
    mount: str,
    credentials: Callable[[], Awaitable[dict[str, str]]],
    *,
    credential_field: str,
) -> Login:
    """``POST auth/<mount>/login`` with the fields ``credentials()`` returns (AppRole:
    ``role_id``/``secret_id``; Kubernetes: ``role``/``jwt``), read afresh at every login."""

    async def login(channel: VaultChannel) -> Lease:
        fields = await credentials()
        channel.secrets = (fields[credential_field],)
        what = f"{method} login at auth/{mount}"
        body = await channel.call(
            "POST", f"auth/{mount}/login", token=None, what=what, payload=fields
        )
        if body is None:
            raise ProviderAuthError(channel.store, f"{what}: no such auth mount (HTTP 404)")
        return _lease(body, channel, what)

    return login


class TokenSession:
    """The store's one token: login, renewal, backoff after refusals, revocation on close."""

    def __init__(
        self,
        channel: VaultChannel,
        login: Login,
        *,
        method: str,
        clock: Callable[[], float] = time.monotonic,
        backoff_min: float = AUTH_BACKOFF_MIN,
        backoff_max: float = AUTH_BACKOFF_MAX,
    ) -> None:
        self.channel = channel
        self.method = method
        self.logins = 0  # successful logins (token auth: token Secret read and looked up)
        self.login_attempts = 0
        self.renewals = 0
        self._login = login
        self._clock = clock
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._lock = asyncio.Lock()
        self._lease: Lease | None = None
        self._issued = 0.0
        self._expires = 0.0
        self._renewable = False
        self._generation = 0
        self._refused: ProviderAuthError | None = None
        self._retry_at = float("-inf")
        self._backoff = 0.0
        self._refresh_after = float("-inf")
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"TokenSession({self.channel.store}, {self.method}, logins={self.logins})"

    def ttl_remaining(self) -> float | None:
        """Seconds until the token expires; ``None`` if there is none or it never expires."""
        lease = self._lease
        if lease is None or lease.ttl <= 0:
            return None
        return max(0.0, self._expires - self._clock())

    async def token(self) -> tuple[str, int]:
        """A usable token (logging in or renewing first when due) and its generation.

        Raises:
            ProviderAuthError: the credential was refused (now, or recently: backing off).
            ProviderUnavailable: the server cannot be reached to log in.
        """
        async with self._lock:
            if self._closed:
                raise ProviderUnavailable(self.channel.store, "the provider is closed")
            if self._lease is None:
                await self._log_in()
            else:
                await self._refresh_if_due()
            assert self._lease is not None
            return self._lease.token, self._generation

    async def after_denied(self, generation: int) -> bool:
        """A read with token ``generation`` got 403: whether a retry with a new token may help
        (one new login, unless one happened since or the backoff forbids it)."""
        async with self._lock:
            if generation != self._generation:
                return True
            if self._clock() < self._retry_at or self._lease is None:
                return False
            self._retry_at = self._clock() + max(self._backoff, self._backoff_min)
            try:
                await self._log_in()
            except ProviderError as err:
                log.warning("%s: login after a denied read failed: %s", self.channel.store, err)
                return False
            return True

    async def close(self) -> None:
        """Stop renewing and revoke a token we logged in for. Idempotent."""
        async with self._lock:
            self._closed = True
            lease, self._lease = self._lease, None
            renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
        if lease is not None and lease.revocable:
            try:
                await self.channel.call(
                    "POST", "auth/token/revoke-self", token=lease.token, what="token revoke"
                )
            except ProviderError as err:
                log.info("%s: revoking the token on close failed: %s", self.channel.store, err)

    async def _log_in(self) -> None:
        now = self._clock()
        if now < self._retry_at and self._refused is not None:
            refused = self._refused
            raise ProviderAuthError(
                self.channel.store,
                f"{self.method} refused; next login in {self._retry_at - now:.0f}s ({refused})",
                retry_after=self._retry_at - now,
            )
        self.login_attempts += 1
        try:
            lease = await self._login(self.channel)
        except ProviderAuthError as err:
            self._backoff = min(self._backoff_max, max(self._backoff_min, self._backoff * 2))
            self._retry_at = now + self._backoff
            self._refused = ProviderAuthError(err.store, str(err).removeprefix(f"{err.store}: "))
            log.warning(
                "%s: %s refused, next login in %.0fs",
                self.channel.store,
                self.method,
                self._backoff,
            )
            raise ProviderAuthError(
                err.store,
                f"{self.method} refused ({str(err).removeprefix(f'{err.store}: ')}); "
                f"next login in {self._backoff:.0f}s",
                retry_after=self._backoff,
            ) from None
        self._refused = None
        self._backoff = 0.0
        self._retry_at = float("-inf")
        self.channel.secrets = (lease.token, *self.channel.secrets)
        same = self._lease is not None and self._lease.token == lease.token
        self._lease = lease
        self._issued = now
        self._expires = now + lease.ttl
        self._renewable = lease.renewable
        if same:
            return
        self._generation += 1
        self.logins += 1
        life = f"TTL {lease.ttl:g}s" if lease.ttl > 0 else "no expiry"
        log.info("%s: logged in (%s; %s)", self.channel.store, self.method, life)
        self._start_renewer()

    def _due_at(self) -> float | None:
        lease = self._lease
        if lease is None or lease.ttl <= 0:
            return None
        return self._issued + (self._expires - self._issued) * 2 / 3

    async def _refresh_if_due(self) -> None:
        due = self._due_at()
        now = self._clock()
        if due is None or now < due or now < self._refresh_after:
            return
        lease = self._lease
        assert lease is not None
        if self._renewable and now < self._expires and await self._renew(lease, now):
            return
        try:
            await self._log_in()
        except ProviderError:
            if self._clock() >= self._expires:
                self._lease = None
                raise
            self._refresh_after = now + RENEW_RETRY_SECONDS
            log.warning("%s: token expires soon and a new login failed", self.channel.store)
            return
        if self._lease is not None and self._lease.token == lease.token:
            # An operator's token that cannot be renewed, and its Secret still holds it.
            self._refresh_after = now + RENEW_RETRY_SECONDS
            log.warning(
                "%s: the token expires in %.0fs and cannot be renewed: put a new one in the "
                "tokenSecretRef Secret",
                self.channel.store,
                self._expires - now,
            )

    async def _renew(self, lease: Lease, now: float) -> bool:
        """``renew-self``; whether the token now lives long enough to keep."""
        try:
            body = await self.channel.call(
                "POST", "auth/token/renew-self", token=lease.token, what="token renewal"
            )
            renewed = _lease(body, self.channel, "token renewal")
        except ProviderAuthError:
            self._renewable = False
            return False
        except ProviderError as err:
            log.info("%s: token renewal failed: %s", self.channel.store, err)
            self._renewable = False
            return False
        self.renewals += 1
        full = self._expires - self._issued
        self._issued = now
        self._expires = now + renewed.ttl
        log.debug("%s: token renewed for %gs", self.channel.store, renewed.ttl)
        if renewed.ttl < full * 2 / 3 or not renewed.renewable:
            self._renewable = False  # capped by the max TTL: log in again when next due
        return renewed.ttl > 0

    def _start_renewer(self) -> None:
        if self._renewer is None and self._due_at() is not None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _renew_loop(self) -> None:
        while True:
            due = self._due_at()
            if due is None:
                self._renewer = None
                return
            await asyncio.sleep(max(0.0, due - self._clock()))
            async with self._lock:
                if self._closed or self._lease is None:
                    self._renewer = None
                    return
                try:
                    await self._refresh_if_due()
                except ProviderError as err:
                    log.warning("%s: token refresh failed: %s", self.channel.store, err)
            if self._lease is not None and self._due_at() is not None:
                due_again = self._due_at()
                assert due_again is not None
                if due_again <= self._clock():
                    await asyncio.sleep(RENEW_RETRY_SECONDS)
