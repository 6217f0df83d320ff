"""The provider contract: how the sync controller reads an external secret store.

A provider is one small module in :mod:`sealbox.sync.providers` (``vault``, ``awssm``,
``kubernetes``...) that turns one SecretStore's ``spec.provider.<name>`` into a :class:`Provider`
client. To add one:

1. Write ``sealbox/sync/providers/<module>.py`` exporting
   ``async def open_provider(spec: Mapping[str, Any], context: StoreContext) -> Provider``.
   ``spec`` is the store's ``spec.provider.<name>`` mapping (ESO's field names, camelCase); reject
   what the provider cannot use with :class:`~sealbox.errors.ConfigError` whose issues name the
   field path (``spec.provider.vault.auth.appRole.roleId: required``). Import the provider's
   client library (hvac, boto3, httpx2...) in that module only: nothing else imports it.
2. Add its ESO provider key and module name to ``PROVIDER_MODULES`` in
   :mod:`sealbox.sync.providers.registry`, which imports the module only when a store names it.
3. Test it against a real server (a dev server, moto, the test apiserver), never a mock.

What a :class:`Provider` promises:

* **One credential per store.** A provider logs in (or builds its client) once, at
  :func:`open_provider` or on first use, keeps the credential fresh itself (renewing a token
  before it expires) and releases it in :meth:`Provider.close` (revoking a token it logged in
  for). Never a login per fetch or per reconcile (ESO #376, #4032).
* **No storm after a refusal.** When the store refuses the credential, the provider raises
  :class:`~sealbox.errors.ProviderAuthError` and backs off: until its ``retry_after`` has passed,
  further calls fail at once without a request.
* **Cheap change detection.** :meth:`Provider.version` reads only metadata (KV v2
  ``current_version``, an AWS version id) so the controller can skip a fetch when nothing
  changed. ``None`` means the store keeps no versions: fetch to compare.
* **Concurrency.** Methods are coroutines on the controller's event loop; several may run at once
  on one provider. Blocking client libraries run in a thread (``asyncio.to_thread``).
* **Errors.** Only :class:`~sealbox.errors.ProviderError` subclasses escape (and ``ConfigError``
  from :func:`open_provider`): :class:`~sealbox.errors.RemoteKeyMissing` for a key, property or
  version the store does not have (the ExternalSecret's deletionPolicy applies),
  :class:`~sealbox.errors.ProviderAuthError` for a refused credential or permission,
  :class:`~sealbox.errors.ProviderUnavailable` for anything a later retry may fix. Messages name
  the store (:attr:`StoreContext.label`) and the remote path, never a value or token.
* **Secrecy.** Values are ``bytes`` in :class:`RemoteValue`, whose repr hides them; a provider's
  repr names the store and the server, nothing secret; log lines likewise.

Credentials the store references (``tokenSecretRef``, an AppRole ``secretRef``, a
ServiceAccount for Kubernetes auth) are not read by the provider itself: it asks the controller
through the :class:`StoreContext` callbacks, at every login, so a rotated Secret or a fresh
service-account token is picked up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "OpenProvider",
    "Provider",
    "RemoteRef",
    "RemoteValue",
    "SecretKeyRef",
    "StoreContext",
]


@dataclass(frozen=True, slots=True)
class RemoteRef:
    """One value in the store, as ESO's ``remoteRef``.

    ``key`` is the store's path or name (``db/creds``); ``property`` selects one field of a JSON
    object (nested fields with dots, ``a.b.c``; a key that itself holds a dot is found first);
    ``version`` pins a version (KV v2 ``"3"``, an AWS version id or stage); ``None`` is the latest.
    """

    key: str
    property: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        """The path as messages show it: ``key#property@version``."""
        text = self.key
        if self.property:
            text += f"#{self.property}"
        if self.version:
            text += f"@{self.version}"
        return text


@dataclass(frozen=True, slots=True)
class RemoteValue:
    """A fetched value and the store's version of it (``None`` if the store keeps none)."""

    value: bytes = field(repr=False)
    version: str | None


@dataclass(frozen=True, slots=True)
class SecretKeyRef:
    """A key of a Kubernetes Secret a store references (ESO's ``SecretKeySelector``).

    ``namespace`` is ``None`` for a namespaced SecretStore (the store's own namespace) and may be
    set only by a ClusterSecretStore; the controller enforces that before reading.
    """

    name: str
    key: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class StoreContext:
    """What the controller hands a provider about its store.

    ``label`` names the store in every message (``SecretStore team-a/vault``).
    ``secret_value(ref)`` reads a key of a referenced Kubernetes Secret (a token, a secret-id).
    ``service_account_token(name, namespace, audiences)`` asks the apiserver's TokenRequest API
    for a fresh token of that ServiceAccount (``namespace`` ``None``: the store's own).
    """

    label: str
    secret_value: Callable[[SecretKeyRef], Awaitable[bytes]] = field(repr=False)
    service_account_token: Callable[[str, str | None, tuple[str, ...]], Awaitable[str]] = field(
        repr=False
    )


@runtime_checkable
class Provider(Protocol):
    """A client of one store; see the module docstring for what every method promises."""

    async def fetch(self, ref: RemoteRef) -> RemoteValue:
        """The value at ``ref`` (one property of it when ``ref.property`` is set).

        A whole value that is a JSON object is returned as its JSON text (as ESO does).

        Raises:
            RemoteKeyMissing: no such key, property or version.
            ProviderAuthError: the credential or permission was refused (then backs off).
            ProviderUnavailable: the store cannot answer now.
        """
        ...

    async def version(self, ref: RemoteRef) -> str | None:
        """The current version of ``ref.key`` from metadata alone, without reading the value;
        ``None`` when the store keeps no versions (the caller must fetch to compare)."""
        ...

    async def fetch_map(self, ref: RemoteRef) -> dict[str, bytes]:
        """``dataFrom.extract``: every top-level field of the JSON object at ``ref`` (of
        ``ref.property`` within it when set); nested objects come back as JSON text."""
        ...

    async def find(self, path: str | None, name_regexp: str) -> dict[str, bytes]:
        """``dataFrom.find``: every key under ``path`` whose name matches ``name_regexp`` (a
        Python ``re.search`` pattern), as ``{key: value}``. A provider that cannot list raises
        :class:`~sealbox.errors.ProviderError` saying so."""
        ...

    async def close(self) -> None:
        """Release the store's credential (revoke a token logged in for). Idempotent."""
        ...


OpenProvider = Callable[[Mapping[str, Any], StoreContext], Awaitable[Provider]]
"""The signature of each provider module's ``open_provider(spec, context)``."""
