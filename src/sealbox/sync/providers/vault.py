"""OpenBao / HashiCorp Vault KV v1 and v2 (ESO's ``spec.provider.vault``).

Store settings (ESO's field names; others are refused so nothing is silently ignored)::

    vault:
      server: https://bao.example:8200     # required, http(s)
      path: secret                         # the KV mount; omitted: the key's first segment
      version: v2                          # v1 or v2 (default)
      namespace: team-a                    # optional (OpenBao / Vault Enterprise namespaces)
      caBundle: <base64 PEM>               # optional, to trust a private CA
      auth:                                # exactly one of:
        tokenSecretRef: {name: bao-token, key: token}
        appRole: {path: approle, roleId: <id>, secretRef: {name: approle, key: secret-id}}
        kubernetes:
          mountPath: kubernetes            # default
          role: sync                       # required
          serviceAccountRef: {name: sync, audiences: [...]}   # or secretRef: a JWT in a Secret

Reads, for a ref with ``key`` ``db/creds`` on mount ``secret``:

* v2 ``fetch``: ``GET secret/data/db/creds[?version=N]``; its version is
  ``data.metadata.version``. ``version``: ``GET secret/metadata/db/creds``, whose
  ``current_version`` changes on every write and carries no value, so the controller can skip
  a fetch when it has not changed. A deleted or destroyed current version is a missing key.
* v1 ``fetch``: ``GET secret/db/creds``; v1 keeps no versions (``version`` is ``None`` and a
  pinned version is refused).
* ``property`` picks a field (a key holding the whole dotted name wins, else a dotted path into
  nested objects, as ESO); strings come back as their UTF-8 bytes, anything else as JSON. No
  property: the whole object as JSON.
* ``find``: ``LIST`` the mount (v2: ``metadata/``) recursively under ``path`` and read each key
  whose full name matches; values are JSON objects.

The block is checked by :func:`parse_store` (:mod:`.vault_settings`). Every request carries the
store's one token (:class:`~.vault_auth.TokenSession`): see there for login, renewal, backoff
after a refused credential and revocation on close. Errors name the store and ``mount/key``,
never a value or token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sealbox.errors import (
    ProviderAuthError,
    ProviderError,
    RemoteKeyMissing,
)
from sealbox.sync.providers.base import Provider, RemoteRef, RemoteValue, SecretKeyRef, StoreContext
from sealbox.sync.providers.vault_auth import (
    Login,
    TokenSession,
    VaultChannel,
    mount_login,
    token_login,
)
from sealbox.sync.providers.vault_settings import VaultStore, parse_store

__all__ = ["VaultProvider", "VaultStore", "open_provider", "parse_store"]


def _ref(spec: Mapping[str, Any]) -> SecretKeyRef:
    namespace = spec.get("namespace")
    return SecretKeyRef(
        name=str(spec["name"]),
        key=str(spec["key"]),
        namespace=str(namespace) if namespace else None,
    )


def _login(store: VaultStore, context: StoreContext) -> tuple[Login, str]:
    spec = store.auth_spec

    async def secret(ref: SecretKeyRef) -> str:
        return (await context.secret_value(ref)).decode("utf-8").strip()

    if store.auth == "token":
        token_ref = _ref(spec)
        return token_login(lambda: secret(token_ref)), "token auth"
    if store.auth == "appRole":
        mount = str(spec.get("path") or "approle").strip("/")
        role_id, secret_id_ref = str(spec["roleId"]), _ref(spec["secretRef"])

        async def approle() -> dict[str, str]:
            return {"role_id": role_id, "secret_id": await secret(secret_id_ref)}

        return mount_login("approle", mount, approle, credential_field="secret_id"), "AppRole login"
    mount = str(spec.get("mountPath") or "kubernetes").strip("/")
    role = str(spec["role"])
    account = spec.get("serviceAccountRef")
    jwt_ref = None if isinstance(account, Mapping) else _ref(spec["secretRef"])

    async def kubernetes() -> dict[str, str]:
        if jwt_ref is not None:
            return {"role": role, "jwt": await secret(jwt_ref)}
        assert isinstance(account, Mapping)
        namespace = account.get("namespace")
        audiences = tuple(str(a) for a in account.get("audiences") or ())
        jwt = await context.service_account_token(
            str(account["name"]), str(namespace) if namespace else None, audiences
        )
        return {"role": role, "jwt": jwt}

    return (
        mount_login("kubernetes", mount, kubernetes, credential_field="jwt"),
        f"Kubernetes login as role {role}",
    )


def _text(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _select(data: Mapping[str, Any], prop: str) -> object:
    """ESO's property lookup: the whole name as a key first, then a dotted path."""
    if prop in data:
        return data[prop]
    node: object = data
    for part in prop.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(prop)
        node = node[part]
    return node


class VaultProvider(Provider):
    """KV reads of one store through its one token; see the module docstring."""

    def __init__(self, store: VaultStore, session: TokenSession) -> None:
        self.store = store
        self.session = session
        self.channel = session.channel
        self.label = session.channel.store

    def __repr__(self) -> str:
        return (
            f"VaultProvider({self.label}, {self.store.server}, kv v{self.store.kv_version}, "
            f"{self.session.method})"
        )

    def _split(self, key: str) -> tuple[str, str]:
        key = key.strip("/")
        if self.store.path is not None:
            return self.store.path, key
        mount, _, rest = key.partition("/")
        if not rest:
            raise ProviderError(
                self.label, "no mount: set spec.provider.vault.path or use <mount>/<key>", key=key
            )
        return mount, rest

    def _where(self, ref: RemoteRef) -> str:
        mount, key = self._split(ref.key)
        where = f"{mount}/{key}"
        return (
            where
            + (f"#{ref.property}" if ref.property else "")
            + (f"@{ref.version}" if ref.version else "")
        )

    async def _get(
        self, path: str, *, what: str, key: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any] | None:
        token, generation = await self.session.token()
        try:
            return await self.channel.call(
                "GET", path, token=token, what=what, key=key, params=params
            )
        except ProviderAuthError:
            if not await self.session.after_denied(generation):
                raise
        token, _ = await self.session.token()
        return await self.channel.call("GET", path, token=token, what=what, key=key, params=params)

    async def _read(self, ref: RemoteRef) -> tuple[dict[str, Any], str | None]:
        """The KV data object at ``ref`` and its version."""
        mount, key = self._split(ref.key)
        where = self._where(ref)
        quoted = quote(key)
        if self.store.kv_version == 1:
            if ref.version:
                raise ProviderError(self.label, "KV v1 keeps no versions", key=where)
            body = await self._get(f"{mount}/{quoted}", what="read", key=where)
            data = body.get("data") if body else None
            if not isinstance(data, dict):
                raise RemoteKeyMissing(self.label, "no such key", key=where)
            return data, None
        params = {"version": ref.version} if ref.version else None
        body = await self._get(f"{mount}/data/{quoted}", what="read", key=where, params=params)
        outer = body.get("data") if body else None
        data = outer.get("data") if isinstance(outer, dict) else None
        if not isinstance(data, dict):
            what = "no such version" if ref.version else "no such key (or its version is deleted)"
            raise RemoteKeyMissing(self.label, what, key=where)
        assert isinstance(outer, dict)
        metadata = outer.get("metadata")
        version = metadata.get("version") if isinstance(metadata, dict) else None
        return data, str(version) if version is not None else None

    async def fetch(self, ref: RemoteRef) -> RemoteValue:
        data, version = await self._read(ref)
        if not ref.property:
            return RemoteValue(_text(data), version)
        try:
            return RemoteValue(_text(_select(data, ref.property)), version)
        except KeyError:
            raise RemoteKeyMissing(self.label, "no such property", key=self._where(ref)) from None

    async def version(self, ref: RemoteRef) -> str | None:
        if self.store.kv_version == 1:
            return None
        mount, key = self._split(ref.key)
        where = f"{mount}/{key}"
        body = await self._get(f"{mount}/metadata/{quote(key)}", what="metadata read", key=where)
        data = body.get("data") if body else None
        if not isinstance(data, dict) or not data.get("current_version"):
            raise RemoteKeyMissing(self.label, "no such key", key=where)
        current = str(data["current_version"])
        versions = data.get("versions")
        entry = versions.get(current) if isinstance(versions, dict) else None
        if isinstance(entry, dict) and (entry.get("destroyed") or entry.get("deletion_time")):
            raise RemoteKeyMissing(self.label, "its current version is deleted", key=where)
        return current

    async def fetch_map(self, ref: RemoteRef) -> dict[str, bytes]:
        data, _ = await self._read(ref)
        node: object = data
        if ref.property:
            try:
                node = _select(data, ref.property)
            except KeyError:
                raise RemoteKeyMissing(
                    self.label, "no such property", key=self._where(ref)
                ) from None
        if not isinstance(node, Mapping):
            raise ProviderError(
                self.label, "is not a JSON object, so it cannot be extracted", key=self._where(ref)
            )
        return {str(name): _text(value) for name, value in node.items()}

    async def find(self, path: str | None, name_regexp: str) -> dict[str, bytes]:
        pattern = re.compile(name_regexp)
        prefix = (path or "").strip("/")
        if self.store.path is None:
            mount, _, prefix = prefix.partition("/")
            if not mount:
                raise ProviderError(
                    self.label, "find needs spec.provider.vault.path or a path <mount>/..."
                )
        else:
            mount = self.store.path
        listing = f"{mount}/metadata" if self.store.kv_version == 2 else mount
        keys = await self._list(listing, prefix)
        found: dict[str, bytes] = {}
        for key in keys:
            if pattern.search(key):
                ref_key = key if self.store.path is not None else f"{mount}/{key}"
                found[key] = (await self.fetch(RemoteRef(ref_key))).value
        return found

    async def _list(self, listing: str, prefix: str) -> list[str]:
        found: list[str] = []
        folders = [prefix]
        while folders:
            folder = folders.pop()
            sub = f"{listing}/{quote(folder)}/" if folder else f"{listing}/"
            token, generation = await self.session.token()
            where = f"{listing}/{folder}"
            try:
                body = await self.channel.call("LIST", sub, token=token, what="list", key=where)
            except ProviderAuthError:
                if not await self.session.after_denied(generation):
                    raise
                token, _ = await self.session.token()
                body = await self.channel.call("LIST", sub, token=token, what="list", key=where)
            data = body.get("data") if body else None
            for name in (data.get("keys") if isinstance(data, dict) else None) or []:
                full = f"{folder}/{name}" if folder else str(name)
                if str(name).endswith("/"):
                    folders.append(full.rstrip("/"))
                else:
                    found.append(full)
        return sorted(found)

    async def close(self) -> None:
        try:
            await self.session.close()
        finally:
            await self.channel.close()


async def open_provider(spec: Mapping[str, Any], context: StoreContext) -> VaultProvider:
    """A :class:`VaultProvider` for ``spec`` (``spec.provider.vault``); logs in on first use.

    Raises:
        ConfigError: a setting is missing or invalid (issues name ``spec.provider.vault.…``).
    """
    store = parse_store(spec, context.label)
    channel = VaultChannel(
        context.label, store.server, namespace=store.namespace, ca_pem=store.ca_pem
    )
    login, method = _login(store, context)
    return VaultProvider(store, TokenSession(channel, login, method=method))
