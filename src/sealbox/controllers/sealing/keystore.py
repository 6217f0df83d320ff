"""Sealing keys in the cluster: loaded at start, followed while running, renewed by the leader.

Where and how a key is kept (one ``kubernetes.io/tls`` Secret per key, the ``active`` label, the
legacy ``<prefix>`` Secret, KMS wrapping) is :mod:`.key_secrets`; this module is the lifecycle.

Two things upstream users asked for years are different:

* The :class:`~sealbox.sealing.KeyRing` follows the key Secrets while the controller runs (#414,
  #1819): a key added, relabelled away from ``active`` or deleted by hand is in or out of the
  ring at the next watch event, without a restart. Only the key namespace is watched, through the
  runtime's list+watch with the label selector (and a field selector for the legacy name) sent
  to the apiserver, never every Secret; a Secret relabelled away arrives as a deletion.
* With a :class:`~.wrapping.KeyWrapper`, new keys are written wrapped by a KMS backend and both
  wrapped and plain keys are read (migration).

An invalid key Secret is logged by name and skipped; it never stops the controller, and its
content is never logged. Only the leader generates keys: the caller says so with
``start(may_generate=...)`` and runs :meth:`KeyStore.renew_forever` only while it leads.
Renewal only ever adds keys (spec §3.2).
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import logging
from collections.abc import Callable, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing.key_secrets import (
    ACTIVE,
    DEFAULT_KEY_PREFIX,
    KEY_LABEL,
    StoredKey,
    key_digest,
    key_secret,
    read_sealing_key,
    secret_fields,
    stored_key,
)
from sealbox.controllers.sealing.wrapping import KeyWrapper
from sealbox.errors import KubeGone, NoSealingKey, SealboxError
from sealbox.kube import kube_errors
from sealbox.kube.runtime import (
    Backoff,
    FieldSelector,
    LabelSelector,
    list_objects,
    watch_from,
)
from sealbox.sealing import (
    DEFAULT_KEY_SIZE,
    DEFAULT_KEY_VALIDITY,
    KeyRing,
    SealingKey,
    generate_key,
)

__all__ = ["DEFAULT_RENEW_PERIOD", "KeyOrder", "KeyStore"]

_log = logging.getLogger(__name__)

DEFAULT_RENEW_PERIOD = datetime.timedelta(days=30)
_ERROR_BACKOFF = Backoff(base_seconds=0.5, max_seconds=60.0)
_ACTIVE_SOURCE = "active"
_LEGACY_SOURCE = "legacy"


class KeyOrder(enum.Enum):
    """Which key is the newest (upstream ``--key-order-priority``)."""

    CERT_NOT_BEFORE = "CertNotBefore"
    SECRET_CREATION_TIMESTAMP = "SecretCreationTimestamp"  # noqa: S105 - a flag value


class KeyStore:
    """The key Secrets of ``namespace``, loaded into :attr:`keyring` and kept in step with it."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        prefix: str = DEFAULT_KEY_PREFIX,
        key_size: int = DEFAULT_KEY_SIZE,
        renew_period: datetime.timedelta | None = DEFAULT_RENEW_PERIOD,
        cutoff: datetime.datetime | None = None,
        common_name: str = "",
        key_validity: datetime.timedelta = DEFAULT_KEY_VALIDITY,
        key_order: KeyOrder = KeyOrder.CERT_NOT_BEFORE,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        wrapper: KeyWrapper | None = None,
        keyring: KeyRing | None = None,
        watch_timeout_seconds: int = 300,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        """``renew_period`` None or zero turns renewal off; ``cutoff`` (aware datetime): at
        start, a newest key older than it is replaced; ``labels``/``annotations`` go on
        generated Secrets (upstream ``--privatekey-labels``/``--privatekey-annotations``)."""
        self.client = client
        self.namespace = namespace
        self.prefix = prefix
        self.key_size = key_size
        self.renew_period = renew_period or None
        self.cutoff = cutoff
        self.common_name = common_name
        self.key_validity = key_validity
        self.key_order = key_order
        self.labels = dict(labels or {})
        self.annotations = dict(annotations or {})
        self.wrapper = wrapper
        self.keyring = keyring if keyring is not None else KeyRing()
        self.watch_timeout_seconds = watch_timeout_seconds
        self._clock = clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._stored: dict[str, StoredKey] = {}
        self._sources: dict[str, set[str]] = {_ACTIVE_SOURCE: set(), _LEGACY_SOURCE: set()}
        self._versions: dict[str, str | None] = {_ACTIVE_SOURCE: None, _LEGACY_SOURCE: None}
        self._skipped: dict[str, str] = {}
        self._changed = asyncio.Condition()
        self._renew_now = asyncio.Event()
        self.generated = 0

    def __repr__(self) -> str:
        return f"KeyStore({self.namespace}/{self.prefix}*, {len(self.keyring)} keys)"

    # -- what is held ---------------------------------------------------------------------------

    @property
    def stored(self) -> tuple[StoredKey, ...]:
        """Every loaded key Secret, by name."""
        return tuple(self._stored[name] for name in sorted(self._stored))

    @property
    def skipped(self) -> dict[str, str]:
        """Key Secrets that could not be loaded: name to why (never their content)."""
        return dict(self._skipped)

    def newest(self) -> SealingKey:
        """The key new values are sealed to, by :attr:`key_order`; NoSealingKey if none."""
        if self.key_order is KeyOrder.CERT_NOT_BEFORE or not self._stored:
            return self.keyring.newest
        epoch = datetime.datetime.min.replace(tzinfo=datetime.UTC)
        entry = max(self._stored.values(), key=lambda e: (e.created or epoch, e.key.not_before))
        return entry.key

    def newest_backed_up(self) -> bool:
        """Whether a Secret holding the newest key carries the backup annotation (False if
        there is no key): the metric ``sealbox_sealing_newest_key_backed_up``."""
        try:
            newest = self.newest().fingerprint
        except NoSealingKey:
            return False
        return any(e.backed_up_at for e in self._stored.values() if e.key.fingerprint == newest)

    async def wait_until(self, predicate: Callable[[KeyStore], bool]) -> None:
        """Return once ``predicate(self)`` holds (checked at each change of the held keys)."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    # -- loading and following ------------------------------------------------------------------

    async def start(self, *, may_generate: bool) -> None:
        """Load every key Secret; if ``may_generate`` (the leader), generate a key when there is
        none or the newest is older than :attr:`cutoff`.

        Raises:
            KubeError: listing or creating Secrets failed.
        """
        for source in (_ACTIVE_SOURCE, _LEGACY_SOURCE):
            await self._relist(source)
        if may_generate and self._needs_key():
            await self.renew()

    def _needs_key(self) -> bool:
        try:
            newest = self.newest()
        except NoSealingKey:
            return True
        return self.cutoff is not None and newest.not_before < self.cutoff

    async def watch(self) -> None:
        """Keep :attr:`keyring` in step with the key Secrets until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._follow(_ACTIVE_SOURCE))
            group.create_task(self._follow(_LEGACY_SOURCE))

    def _selectors(self, source: str) -> tuple[LabelSelector | None, FieldSelector | None]:
        """What the apiserver filters on: the ``active`` label, or the legacy Secret's name."""
        if source == _ACTIVE_SOURCE:
            return {KEY_LABEL: ACTIVE}, None
        return None, {"metadata.name": self.prefix}

    async def _relist(self, source: str) -> None:
        labels, fields = self._selectors(source)
        listed = await list_objects(
            self.client, Secret, namespace=self.namespace, labels=labels, fields=fields
        )
        self._versions[source] = listed.resource_version
        present = {str(obj.metadata.name) for obj in listed.objects}
        for name in sorted(self._sources[source] - present):
            await self._drop(source, name)
        for obj in listed.objects:
            await self._load(source, obj)

    async def _follow(self, source: str) -> None:
        """List+watch one source until cancelled: relist on 410, back off on other failures."""
        labels, fields = self._selectors(source)
        failures = 0
        while True:
            try:
                version = self._versions[source]
                if version is None:
                    await self._relist(source)
                    continue
                async for event in watch_from(
                    self.client,
                    Secret,
                    namespace=self.namespace,
                    resource_version=version,
                    timeout_seconds=self.watch_timeout_seconds,
                    labels=labels,
                    fields=fields,
                ):
                    failures = 0
                    obj: Any = event.obj
                    self._versions[source] = obj.metadata.resourceVersion or self._versions[source]
                    if event.type == "DELETED":
                        await self._drop(source, str(obj.metadata.name))
                    else:
                        await self._load(source, obj)
            except KubeGone:
                self._versions[source] = None
            except Exception as exc:  # any transport or API failure: back off, resume
                failures += 1
                delay = _ERROR_BACKOFF.delay(failures)
                _log.warning(
                    "watch of sealing key Secrets in %s failed (%s); retrying in %.1fs",
                    self.namespace,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _load(self, source: str, obj: Any) -> None:
        name = str(obj.metadata.name)
        self._sources[source].add(name)
        data, _labels, annotations = secret_fields(obj)
        old = self._stored.get(name)
        if old is not None and old.digest == key_digest(data):
            key = old.key
        else:
            try:
                key = await read_sealing_key(
                    data,
                    annotations,
                    wrapper=self.wrapper,
                    source=f"Secret {self.namespace}/{name}",
                )
            except SealboxError as exc:
                self._skipped[name] = str(exc)
                _log.warning("sealing key Secret %s/%s skipped: %s", self.namespace, name, exc)
                await self._forget(name)
                return
        self._skipped.pop(name, None)
        await self._remember(stored_key(obj, key))

    async def _drop(self, source: str, name: str) -> None:
        self._sources[source].discard(name)
        if not any(name in names for names in self._sources.values()):
            self._skipped.pop(name, None)
            await self._forget(name)

    async def _remember(self, entry: StoredKey) -> None:
        old = self._stored.get(entry.secret_name)
        self._stored[entry.secret_name] = entry
        if self.keyring.add(entry.key):
            _log.info(
                "sealing key %s loaded from Secret %s/%s",
                entry.key.fingerprint[:16],
                self.namespace,
                entry.secret_name,
            )
        if old is not None and old.key.fingerprint != entry.key.fingerprint:
            self._release(old.key.fingerprint)
        await self._notify()

    async def _forget(self, name: str) -> None:
        old = self._stored.pop(name, None)
        if old is not None:
            self._release(old.key.fingerprint)
        await self._notify()

    def _release(self, fingerprint: str) -> None:
        if any(e.key.fingerprint == fingerprint for e in self._stored.values()):
            return  # another Secret still holds the same key
        if self.keyring.discard(fingerprint):
            _log.info("sealing key %s is no longer in use", fingerprint[:16])

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- generating -----------------------------------------------------------------------------

    async def renew(self) -> SealingKey:
        """Generate a key, store it in a new Secret and hold it; old keys stay (spec §3.2).

        Raises:
            KubeError: the Secret could not be created (the key is then not used).
        """
        key = await asyncio.to_thread(
            generate_key,
            bits=self.key_size,
            common_name=self.common_name,
            validity=self.key_validity,
        )
        created: Any = await self.create_key_secret(key)
        name = str(created.metadata.name)
        self.generated += 1
        _log.info(
            "generated sealing key %s in Secret %s/%s; certificate:\n%s",
            key.fingerprint[:16],
            self.namespace,
            name,
            key.certificate_pem().decode(),
        )
        self._sources[_ACTIVE_SOURCE].add(name)
        await self._remember(stored_key(created, key))
        return key

    async def create_key_secret(self, key: SealingKey) -> Secret:
        """Write ``key`` as upstream does (wrapped if a wrapper is set); the created Secret."""
        secret = await key_secret(
            key,
            namespace=self.namespace,
            prefix=self.prefix,
            labels=self.labels,
            annotations=self.annotations,
            wrapper=self.wrapper,
        )
        with kube_errors():
            return await self.client.create(secret)

    def next_renewal_in(self) -> float:
        """Seconds until the next renewal is due (``period - age(newest)``; 0 if no key)."""
        if self.renew_period is None:
            return float("inf")
        try:
            newest = self.newest()
        except NoSealingKey:
            return 0.0
        due = newest.not_before + self.renew_period
        return max(0.0, (due - self._clock()).total_seconds())

    def request_renewal(self) -> None:
        """Renew now (upstream: SIGUSR1), from :meth:`renew_forever`'s task."""
        self._renew_now.set()

    async def renew_forever(self) -> None:
        """The leader's renewal schedule, until cancelled: a key when ``period - age(newest)``
        has passed (so a key another leader made meanwhile counts), then every period."""
        failures = 0
        while True:
            delay = self.next_renewal_in()
            if delay > 0:
                try:
                    await asyncio.wait_for(
                        self._renew_now.wait(), None if delay == float("inf") else delay
                    )
                except TimeoutError:
                    continue  # due now, or a newer key arrived meanwhile: look again
            self._renew_now.clear()
            try:
                await self.renew()
                failures = 0
            except SealboxError as exc:
                failures += 1
                delay = _ERROR_BACKOFF.delay(failures)
                _log.error("sealing key renewal failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
