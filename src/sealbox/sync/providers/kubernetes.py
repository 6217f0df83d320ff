"""``kubernetes``: a Secret in another namespace or another cluster, through sealbox.kube.

::

    spec:
      provider:
        kubernetes:
          remoteNamespace: shared          # where the Secrets are read (default: default)
          server:
            url: https://other-cluster:6443    # default https://kubernetes.default.svc
            caBundle: LS0tLS1CRUdJTi...        # base64 PEM; or caProvider {type: Secret,...}
          auth:                            # exactly one of token, serviceAccount, cert
            token: {bearerToken: {name: remote-token, key: token}}
            # serviceAccount: {name: reader, audiences: [https://other-cluster]}
            # cert: {clientCert: {name: c, key: tls.crt}, clientKey: {name: c, key: tls.key}}
          # authRef: {name: remote-kubeconfig, key: config}   # instead of server + auth

``remoteRef.key`` names the Secret, ``property`` one of its data keys; without a property the
whole Secret is one JSON object of its keys and (text) values, as ESO gives it. The version is the
Secret's ``resourceVersion``: :meth:`KubernetesProvider.version` reads it from a metadata-only
list (``PartialObjectMetadataList`` for that one name, through :mod:`sealbox.kube.metadata`), so
no value crosses the wire until it changed. ``remoteRef.version`` cannot pin one (a Secret keeps
no history). ``dataFrom.extract`` gives the Secret's data keys (or the fields of the JSON object
in one key, with a property); ``find`` lists metadata, matches names against the regexp (``path``
is a name prefix) and reads only the matches, each as the JSON object of its data.

Credentials are read through the store's context when the client is built, again after the
apiserver answered 401 (a rotated token), and every :data:`TOKEN_MAX_AGE` seconds for a
ServiceAccount token. A refusal (401 after a fresh credential, or 403) is
:class:`ProviderAuthError` and starts a backoff during which calls fail without a request. The
block is checked in :mod:`.kubernetes_settings`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

import yaml
from lightkube import AsyncClient
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.resources.core_v1 import Secret

from sealbox.errors import (
    KubeConfigError,
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubeUnavailable,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RemoteKeyMissing,
    SealboxError,
)
from sealbox.kube import SERVICE_ACCOUNT_DIR, async_client, kube_errors, list_metadata_async
from sealbox.sync.providers.base import RemoteRef, RemoteValue, StoreContext
from sealbox.sync.providers.kubernetes_settings import KubernetesSettings

__all__ = ["TOKEN_MAX_AGE", "KubernetesProvider", "open_provider"]

TOKEN_MAX_AGE: Final = 600.0
"""Seconds a requested ServiceAccount token is used before a fresh one is asked for."""

_BACKOFF_START = 5.0
_BACKOFF_MAX = 300.0
_RETIRE_SECONDS = 30.0  # a replaced client is closed once requests still on it are done

T = TypeVar("T")


class _Unusable(ValueError):
    """A credential that cannot be used, said without quoting it."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class KubernetesProvider:
    """One SecretStore's client of a (remote) apiserver (see the module docstring)."""

    def __init__(self, settings: KubernetesSettings, context: StoreContext) -> None:
        self._settings = settings
        self._context = context
        self.label = context.label
        self.namespace = settings.namespace
        self._client: AsyncClient | None = None
        self._built_at = 0.0
        self._refused_until = 0.0
        self._backoff = _BACKOFF_START
        self._closed = False
        self._build_lock = asyncio.Lock()
        self._retired: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> AsyncClient | None:
        """The lightkube client once built (for tests and diagnostics)."""
        return self._client

    # the contract ------------------------------------------------------------------------------

    async def fetch(self, ref: RemoteRef) -> RemoteValue:
        self._no_version(ref)
        secret = await self._call(
            ref, lambda client: client.get(Secret, ref.key, namespace=self.namespace)
        )
        data = self._data(secret)
        version = (secret.metadata.resourceVersion if secret.metadata else None) or None
        if ref.property is None:
            return RemoteValue(self._as_json(data, ref), version)
        if ref.property not in data:
            raise RemoteKeyMissing(
                self.label, f"the Secret has no key {ref.property}", key=str(ref)
            )
        return RemoteValue(data[ref.property], version)

    async def version(self, ref: RemoteRef) -> str | None:
        self._no_version(ref)

        async def read(client: AsyncClient) -> str | None:
            async for item in list_metadata_async(
                client,
                Secret,
                namespace=self.namespace,
                fields={"metadata.name": ref.key},
                limit=1,
            ):
                return item.resource_version
            return None

        version = await self._call(ref, read)
        if version is None:
            raise RemoteKeyMissing(self.label, "no such Secret", key=self._where(ref))
        return version

    async def fetch_map(self, ref: RemoteRef) -> dict[str, bytes]:
        self._no_version(ref)
        secret = await self._call(
            ref, lambda client: client.get(Secret, ref.key, namespace=self.namespace)
        )
        data = self._data(secret)
        if ref.property is None:
            return data
        if ref.property not in data:
            raise RemoteKeyMissing(
                self.label, f"the Secret has no key {ref.property}", key=str(ref)
            )
        try:
            document = json.loads(data[ref.property])
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProviderError(self.label, "the key is not a JSON object", key=str(ref))
        return {
            str(name): value.encode() if isinstance(value, str) else json.dumps(value).encode()
            for name, value in document.items()
        }

    async def find(self, path: str | None, name_regexp: str) -> dict[str, bytes]:
        try:
            pattern = re.compile(name_regexp)
        except re.error as exc:
            raise ProviderError(self.label, f"find.name.regexp is not valid ({exc})") from None
        where = RemoteRef(key=f"{path or ''}*")

        async def names(client: AsyncClient) -> list[str]:
            return [
                item.name
                async for item in list_metadata_async(client, Secret, namespace=self.namespace)
            ]

        found: dict[str, bytes] = {}
        for name in await self._call(where, names):
            if not name.startswith(path or "") or not pattern.search(name):
                continue
            try:
                found[name] = (await self.fetch(RemoteRef(name))).value
            except RemoteKeyMissing:
                continue  # deleted between the list and the read
        return found

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        for task in list(self._retired):  # close replaced clients now
            task.cancel()
        await asyncio.gather(*self._retired, return_exceptions=True)

    def __repr__(self) -> str:
        return (
            f"KubernetesProvider(store={self.label!r}, server={self._settings.url!r}, "
            f"namespace={self.namespace!r})"
        )

    # values ------------------------------------------------------------------------------------

    def _no_version(self, ref: RemoteRef) -> None:
        if ref.version is not None:
            raise ProviderError(
                self.label,
                "a Kubernetes Secret keeps no versions; remove remoteRef.version",
                key=str(ref),
            )

    def _where(self, ref: RemoteRef) -> str:
        return f"{self.namespace}/{ref}"

    @staticmethod
    def _data(secret: Secret) -> dict[str, bytes]:
        data = {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}
        for key, text in (secret.stringData or {}).items():
            data.setdefault(key, text.encode())
        return data

    def _as_json(self, data: Mapping[str, bytes], ref: RemoteRef) -> bytes:
        try:
            document = {key: value.decode() for key, value in data.items()}
        except UnicodeDecodeError:
            raise ProviderError(
                self.label,
                "the Secret holds binary values, which JSON cannot carry; name a key in property",
                key=str(ref),
            ) from None
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    # client, credentials and errors ------------------------------------------------------------

    async def _call(self, ref: RemoteRef, call: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """``call`` with the client; after a 401, once more with fresh credentials."""
        stale: AsyncClient | None = None
        for attempt in (1, 2):
            client = await self._ready(ref, stale=stale)
            try:
                with kube_errors():
                    result = await call(client)
            except KubeError as exc:
                if exc.status == 401 and attempt == 1:
                    stale = client  # read the credential again (rotated?) and retry once
                    continue
                raise self._error(exc, ref) from None
            self._backoff = _BACKOFF_START
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _ready(self, ref: RemoteRef, *, stale: AsyncClient | None) -> AsyncClient:
        """The client; built (credentials read now) if there is none, it is ``stale`` (it was
        refused with 401) or its ServiceAccount token is old. During the backoff after a
        refusal, fail at once without a request. One build at a time: calls that waited use it.
        """
        if self._closed:
            raise ProviderUnavailable(self.label, "the provider is closed", key=str(ref))
        left = self._refused_until - time.monotonic()
        if left > 0:
            raise ProviderAuthError(
                self.label,
                f"the apiserver refused the store's credentials; next try in {left:.0f}s",
                key=self._where(ref),
                retry_after=left,
            )
        async with self._build_lock:
            client = self._client
            expired = (
                self._settings.service_account is not None
                and time.monotonic() - self._built_at > TOKEN_MAX_AGE
            )
            if client is not None and client is not stale and not expired:
                return client
            config = await self._config(ref)
            try:
                built = async_client(config, namespace=self.namespace)
            except KubeConfigError as exc:
                raise ProviderError(self.label, str(exc), key=self._where(ref)) from None
            self._client, self._built_at = built, time.monotonic()
        if client is not None:  # calls may still be running on it: close it a little later
            task = asyncio.create_task(self._close_later(client))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)
        return built

    @staticmethod
    async def _close_later(client: AsyncClient) -> None:
        try:
            await asyncio.sleep(_RETIRE_SECONDS)
        finally:
            await client.close()

    async def _config(self, ref: RemoteRef) -> SingleConfig:
        """The cluster and user to talk to, credentials read now through the store's context."""
        settings = self._settings
        try:
            if settings.kubeconfig is not None:
                document = yaml.safe_load(await self._context.secret_value(settings.kubeconfig))
                if not isinstance(document, dict):
                    raise _Unusable("the Secret holds no kubeconfig")
                single = KubeConfig.from_dict(document).get()
                if single is None:
                    raise _Unusable("the kubeconfig names no current-context")
                return single
            cluster: dict[str, Any] = {"server": settings.url}
            if settings.ca_bundle is not None:
                cluster["certificate-authority-data"] = settings.ca_bundle
            elif settings.ca_ref is not None:
                cluster["certificate-authority-data"] = _b64(
                    await self._context.secret_value(settings.ca_ref)
                )
            elif (SERVICE_ACCOUNT_DIR / "ca.crt").is_file():
                cluster["certificate-authority"] = str(SERVICE_ACCOUNT_DIR / "ca.crt")
            user: dict[str, Any] = {}
            if settings.token is not None:
                user["token"] = (await self._context.secret_value(settings.token)).decode().strip()
            elif settings.service_account is not None:
                user["token"] = await self._context.service_account_token(*settings.service_account)
            elif settings.cert is not None:
                user["client-certificate-data"] = _b64(
                    await self._context.secret_value(settings.cert[0])
                )
                user["client-key-data"] = _b64(await self._context.secret_value(settings.cert[1]))
            document = {
                "clusters": [{"name": "remote", "cluster": cluster}],
                "users": [{"name": "store", "user": user}],
                "contexts": [
                    {
                        "name": "remote",
                        "context": {
                            "cluster": "remote",
                            "user": "store",
                            "namespace": self.namespace,
                        },
                    }
                ],
                "current-context": "remote",
            }
            single = KubeConfig.from_dict(document).get()
            assert single is not None
            return single
        except ProviderError:
            raise
        except (
            SealboxError,
            ValueError,
            LookupError,
            TypeError,
            yaml.YAMLError,
            LightkubeConfigError,
        ) as exc:
            # Only messages that cannot quote the credential: a parser's may quote its input.
            reason = str(exc) if isinstance(exc, SealboxError | _Unusable) else type(exc).__name__
            raise ProviderAuthError(
                self.label, f"cannot use the store's credentials ({reason})", key=self._where(ref)
            ) from None

    def _error(self, exc: KubeError, ref: RemoteRef) -> ProviderError:
        key = self._where(ref)
        if isinstance(exc, KubeNotFound):
            return RemoteKeyMissing(self.label, "no such Secret", key=key)
        if isinstance(exc, KubeForbidden) or exc.status == 401:
            delay = self._backoff
            self._backoff = min(self._backoff * 2, _BACKOFF_MAX)
            self._refused_until = time.monotonic() + delay
            return ProviderAuthError(
                self.label, f"{exc}; next try in {delay:.0f}s", key=key, retry_after=delay
            )
        if isinstance(exc, KubeUnavailable):
            return ProviderUnavailable(self.label, str(exc), key=key)
        return ProviderError(self.label, str(exc), key=key)


async def open_provider(spec: Mapping[str, Any], context: StoreContext) -> KubernetesProvider:
    """The client of the store whose ``spec.provider.kubernetes`` is ``spec`` (no request yet).

    Raises:
        ConfigError: a field is missing or not valid (issues name its path).
    """
    return KubernetesProvider(KubernetesSettings(spec, context.label), context)
