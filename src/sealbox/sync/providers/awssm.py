"""``aws`` (service ``SecretsManager``): AWS Secrets Manager through boto3.

::

    spec:
      provider:
        aws:
          service: SecretsManager
          region: eu-west-1
          prefix: team-a/            # optional: put before every key (as ESO)
          endpointURL: https://vpce-….secretsmanager.eu-west-1.vpce.amazonaws.com  # Sealbox only
          auth:                      # optional: else boto3's chain (environment, IRSA, profile…)
            secretRef:
              accessKeyIDSecretRef: {name: aws-creds, key: access-key-id}
              secretAccessKeySecretRef: {name: aws-creds, key: secret-access-key}
              sessionTokenSecretRef: {name: aws-creds, key: session-token}   # optional

``endpointURL`` (not in ESO, which reads ``AWS_SECRETSMANAGER_ENDPOINT``) points the client at a
VPC endpoint, a proxy or moto; it must be https except to a loopback address. ``role`` and
``auth.jwt`` are refused: assume a role through a profile or IRSA in the controller's
environment instead. The block is checked in :mod:`.awssm_settings`.

Reads: ``GetSecretValue`` (SecretString, else SecretBinary); ``remoteRef.version`` is a
VersionId when it is ``uuid/<id>`` (as ESO) or looks like one, else a VersionStage
(``AWSPREVIOUS``). :meth:`AwsSecretsManager.version` is ``DescribeSecret`` (metadata only: the id
holding ``AWSCURRENT``, or the pinned stage), the same id :meth:`~AwsSecretsManager.fetch` reports,
so the controller fetches only when it changed. ``find`` is ``ListSecrets`` filtered by the name
prefix ``path``, paged, matched against the regexp here, then one ``GetSecretValue`` per match.

boto3 blocks, so every call runs on this store's own threads (:data:`THREADS`), never on the
event loop. Errors (mapped in :mod:`.awssm_errors`): ``ResourceNotFoundException`` (or a secret
marked for deletion, a missing version) is :class:`RemoteKeyMissing`; HTTP 401/403 and AWS's
credential and access codes are :class:`ProviderAuthError`, after which calls fail at once for a
backoff and then re-read the referenced credentials; throttling, 5xx and network failures are
:class:`ProviderUnavailable`. Messages name the store, the key and the endpoint, never a value or
credential; botocore logs bodies at DEBUG, so opening a store caps the ``botocore`` logger at
INFO.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from sealbox.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RemoteKeyMissing,
    SealboxError,
)
from sealbox.sync.providers.awssm_errors import Refused, sdk_error
from sealbox.sync.providers.awssm_settings import AwsSettings
from sealbox.sync.providers.base import RemoteRef, RemoteValue, StoreContext

# boto3 builds the client's methods at run time and no stubs for Secrets Manager are installed.
SecretsManagerClient = Any

__all__ = ["THREADS", "AwsSecretsManager", "json_property", "open_provider"]

THREADS: Final = 8
_CURRENT = "AWSCURRENT"
_VERSION_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[0-9a-fA-F]{32}")
_BACKOFF_START = 5.0
_BACKOFF_MAX = 300.0

T = TypeVar("T")


def json_property(document: object, path: str) -> object:
    """The field ``path`` of a decoded JSON ``document``: a key holding the whole ``path`` (dots
    included) first, else nested keys split at dots, leftmost split first (``a.b.c``).

    Raises:
        KeyError: no such field.
    """
    if not isinstance(document, dict):
        raise KeyError(path)
    if path in document:
        return document[path]
    for index, char in enumerate(path):
        if char == "." and path[:index] in document:
            try:
                return json_property(document[path[:index]], path[index + 1 :])
            except KeyError:
                continue
    raise KeyError(path)


def _as_bytes(value: object) -> bytes:
    """A JSON value as a Secret holds it: strings as their text, anything else as JSON."""
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def _quiet_sdk_logs() -> None:
    """botocore logs request and response bodies (which carry the values) at DEBUG."""
    logger = logging.getLogger("botocore")
    if logger.level == logging.NOTSET or logger.level < logging.INFO:
        logger.setLevel(logging.INFO)


class AwsSecretsManager:
    """One SecretStore's AWS Secrets Manager client (see the module docstring)."""

    def __init__(self, settings: AwsSettings, context: StoreContext) -> None:
        self._settings = settings
        self._context = context
        self.label = context.label
        self.endpoint = settings.endpoint_url or f"AWS Secrets Manager in {settings.region}"
        self._pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="sync-awssm")
        self._lock = threading.Lock()
        self._client: SecretsManagerClient | None = None
        self._refused_until = 0.0
        self._backoff = _BACKOFF_START
        self._closed = False
        self.page_size = 100  # ListSecrets' MaxResults (at most 100)

    # the contract ------------------------------------------------------------------------------

    async def fetch(self, ref: RemoteRef) -> RemoteValue:
        client = await self._ready(ref)
        answer = await self._run(ref, "GetSecretValue", lambda: self._get(client, ref.key, ref))
        raw, version = answer
        if ref.property is None:
            return RemoteValue(raw, version)
        return RemoteValue(_as_bytes(self._property(raw, ref)), version)

    async def version(self, ref: RemoteRef) -> str | None:
        client = await self._ready(ref)
        if ref.version is not None and self._version_id(ref.version) is not None:
            return self._version_id(ref.version)  # a pinned id never changes
        stage = ref.version or _CURRENT
        described = await self._run(
            ref, "DescribeSecret", lambda: client.describe_secret(SecretId=self._name(ref.key))
        )
        if described.get("DeletedDate") is not None:
            raise RemoteKeyMissing(self.label, "the secret is marked for deletion", key=str(ref))
        for version_id, stages in (described.get("VersionIdsToStages") or {}).items():
            if stage in stages:
                return str(version_id)
        raise RemoteKeyMissing(self.label, f"no version holds the stage {stage}", key=str(ref))

    async def fetch_map(self, ref: RemoteRef) -> dict[str, bytes]:
        client = await self._ready(ref)
        raw, _ = await self._run(ref, "GetSecretValue", lambda: self._get(client, ref.key, ref))
        document = self._property(raw, ref) if ref.property is not None else self._json(raw, ref)
        if not isinstance(document, dict):
            raise ProviderError(self.label, "the value is not a JSON object", key=str(ref))
        return {str(name): _as_bytes(value) for name, value in document.items()}

    async def find(self, path: str | None, name_regexp: str) -> dict[str, bytes]:
        where = RemoteRef(key=f"{path or ''}*")
        try:
            pattern = re.compile(name_regexp)
        except re.error as exc:
            raise ProviderError(self.label, f"find.name.regexp is not valid ({exc})") from None
        client = await self._ready(where)
        names = await self._run(where, "ListSecrets", lambda: self._list(client, path))
        found: dict[str, bytes] = {}
        for name in names:
            if not pattern.search(name):
                continue
            ref = RemoteRef(key=name)
            try:
                raw, _ = await self._run(
                    ref, "GetSecretValue", functools.partial(self._get, client, name, ref)
                )
            except RemoteKeyMissing:
                continue  # deleted between the list and the read
            found[name] = raw
        return found

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"AwsSecretsManager(store={self.label!r}, endpoint={self.endpoint!r})"

    # client and credentials --------------------------------------------------------------------

    async def _ready(self, ref: RemoteRef) -> SecretsManagerClient:
        """The client, built (with credentials read through the store's context) if there is
        none; during the backoff after a refusal, fail at once without a request."""
        if self._closed:
            raise ProviderUnavailable(self.label, "the provider is closed", key=str(ref))
        left = self._refused_until - time.monotonic()
        if left > 0:
            raise ProviderAuthError(
                self.label,
                f"AWS refused the store's credentials; next try in {left:.0f}s",
                key=str(ref),
                retry_after=left,
            )
        client = self._client
        if client is not None:
            return client
        credentials = await self._credentials()
        built: SecretsManagerClient = await self._run(
            ref, "setup", lambda: self._new_client(credentials)
        )
        with self._lock:
            if self._client is None:  # else another call built one meanwhile: use that
                self._client = built
                return built
            current = self._client
        built.close()
        return current

    async def _credentials(self) -> dict[str, str]:
        settings = self._settings
        refs = {
            "aws_access_key_id": settings.access_key,
            "aws_secret_access_key": settings.secret_key,
            "aws_session_token": settings.session_token,
        }
        credentials: dict[str, str] = {}
        for name, ref in refs.items():
            if ref is None:
                continue
            try:
                credentials[name] = (await self._context.secret_value(ref)).decode().strip()
            except ProviderError:
                raise
            except SealboxError as exc:  # the Secret or its key is missing, or unreadable
                raise ProviderAuthError(
                    self.label, f"cannot read the credential {ref.name}/{ref.key} ({exc})"
                ) from None
            except UnicodeDecodeError:  # never the exception itself: it holds the bytes
                raise ProviderAuthError(
                    self.label, f"the credential {ref.name}/{ref.key} is not text"
                ) from None
        return credentials

    def _new_client(self, credentials: Mapping[str, str]) -> SecretsManagerClient:
        settings = self._settings
        _quiet_sdk_logs()
        session = boto3.session.Session(
            aws_access_key_id=credentials.get("aws_access_key_id"),
            aws_secret_access_key=credentials.get("aws_secret_access_key"),
            aws_session_token=credentials.get("aws_session_token"),
            region_name=settings.region,
        )
        config = BotoConfig(
            connect_timeout=5,
            read_timeout=10,
            retries={"mode": "standard", "total_max_attempts": 3},
            max_pool_connections=THREADS + 2,
            user_agent_extra="sealbox-sync",
        )
        return session.client("secretsmanager", endpoint_url=settings.endpoint_url, config=config)

    # blocking calls (on the pool) --------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self._settings.prefix + key

    def _version_id(self, version: str) -> str | None:
        if version.startswith("uuid/"):
            return version[len("uuid/") :]
        return version if _VERSION_ID.fullmatch(version) else None

    def _get(self, client: SecretsManagerClient, key: str, ref: RemoteRef) -> tuple[bytes, str]:
        name = self._name(key)
        version_id = self._version_id(ref.version) if ref.version is not None else None
        if version_id is not None:
            answer = client.get_secret_value(SecretId=name, VersionId=version_id)
        elif ref.version is not None:
            answer = client.get_secret_value(SecretId=name, VersionStage=ref.version)
        else:
            answer = client.get_secret_value(SecretId=name)
        text = answer.get("SecretString")
        raw = text.encode() if text is not None else answer.get("SecretBinary")
        if raw is None:
            raise RemoteKeyMissing(self.label, "the version holds no value", key=str(ref))
        return bytes(raw), str(answer.get("VersionId", ""))

    def _list(self, client: SecretsManagerClient, path: str | None) -> list[str]:
        prefix = self._settings.prefix + (path or "")
        args: dict[str, Any] = {"MaxResults": self.page_size}
        if prefix:
            args["Filters"] = [{"Key": "name", "Values": [prefix]}]
        names: list[str] = []
        while True:
            page = client.list_secrets(**args)
            for entry in page.get("SecretList", []):
                name = entry.get("Name", "")
                if entry.get("DeletedDate") is None and name.startswith(prefix):
                    names.append(name[len(self._settings.prefix) :])
            token = page.get("NextToken")
            if not token:
                return names
            args["NextToken"] = token

    # values ------------------------------------------------------------------------------------

    def _json(self, raw: bytes, ref: RemoteRef) -> object:
        try:
            return json.loads(raw)
        except ValueError:
            raise ProviderError(self.label, "the value is not JSON", key=str(ref)) from None

    def _property(self, raw: bytes, ref: RemoteRef) -> object:
        assert ref.property is not None
        try:
            return json_property(json.loads(raw), ref.property)
        except (ValueError, KeyError):
            raise RemoteKeyMissing(
                self.label, f"the value has no JSON property {ref.property}", key=str(ref)
            ) from None

    # running and errors ------------------------------------------------------------------------

    async def _run(self, ref: RemoteRef, operation: str, call: Callable[[], T]) -> T:
        context = contextvars.copy_context()
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, context.run, call)
        except RuntimeError as exc:  # the pool was shut down by close()
            raise ProviderUnavailable(self.label, f"{operation}: {exc}", key=str(ref)) from None
        except (BotoCoreError, ClientError) as exc:
            raise self._error(operation, exc, ref) from None
        self._backoff = _BACKOFF_START
        return result

    def _error(self, operation: str, exc: Exception, ref: RemoteRef) -> ProviderError:
        key = str(ref)
        found = sdk_error(self.label, self.endpoint, operation, exc, key)
        return self._refused(operation, found.detail, key) if isinstance(found, Refused) else found

    def _refused(self, operation: str, detail: str, key: str) -> ProviderAuthError:
        """Back off, and drop the client so the credentials are read again after it."""
        delay = self._backoff
        self._backoff = min(self._backoff * 2, _BACKOFF_MAX)
        self._refused_until = time.monotonic() + delay
        with self._lock:  # not closed: calls still running on it finish; GC closes it
            self._client = None
        return ProviderAuthError(
            self.label,
            f"{operation} refused the store's credentials ({detail}); next try in {delay:.0f}s",
            key=key,
            retry_after=delay,
        )


async def open_provider(spec: Mapping[str, Any], context: StoreContext) -> AwsSecretsManager:
    """The client of the store whose ``spec.provider.aws`` is ``spec`` (no AWS call yet).

    Raises:
        ConfigError: a field is missing or not valid (issues name its path).
    """
    return AwsSecretsManager(AwsSettings(spec, context.label), context)
