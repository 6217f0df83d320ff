"""Verify a re-encryption before the old key is removed: nothing may still need it.

Two ways, as the rotation can reach the cluster:

* :func:`verify_etcd` (etcd reachable): a :func:`sealbox.ops.scan` of the rotated resources
  counts stored values by provider and key name (from each value's prefix, or by decrypting when
  transformers are given). It passes only when no value of a rotated resource is under an old
  provider/key, none is undecryptable, and the scan found something at all (an empty scan is
  more likely a wrong ``--etcd-prefix`` than an empty cluster; ``allow_empty`` says otherwise).
  Objects under the same etcd ranges that another entry governs (``secrets`` in an entry of its
  own while ``*.*`` rotates) are counted apart and never fail it. A KMS v2 KEK rotation retires
  no provider or key name, only the plugin's previous key_id: given a :class:`KekCheck` (and the
  transformers, which read each value's key_id and ask the plugin's Status for the current one),
  a value of that provider the scan finds stale (its key_id is not the plugin's current one, or
  it holds an older DEK form) counts as remaining, as ``sealbox etcd scan --fail-on stale`` would
  fail on it.
* :func:`verify_api` (no etcd): every object of every covered resource is read through every
  apiserver, each one a ``GET`` (served from etcd, so decrypted afresh, never from a cache) asking
  for its metadata alone, so no value crosses the wire. It passes when every read succeeds.

Results name keys and objects, never a value.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightkube import AsyncClient

from sealbox.encryption import EncryptionConfiguration, StorageTransformers, resolve
from sealbox.errors import InputError, KubeError
from sealbox.ops import ScannedObject, ScanSummary, config_prefixes, scan
from sealbox.rotate.api_resources import ApiResource, discover, failure_reason, get_json, http_of
from sealbox.rotate.gate import short_hash
from sealbox.rotate.throttle import TokenBucket
from sealbox.storage import DEFAULT_PREFIX, KeyValueReader

__all__ = [
    "MAX_NAMED",
    "ApiVerifyResult",
    "KekCheck",
    "ServerReads",
    "StoredKey",
    "VerifyResult",
    "verify_api",
    "verify_etcd",
]

MAX_NAMED = 20
"""How many etcd keys (or objects) a failed verification names; the counts cover the rest."""

StoredKey = tuple[str, str]
"""``(provider, key name)`` as :func:`sealbox.encryption.classify_value` reports a stored value:
``("aescbc", "key1")``, ``("kms-v2", "<provider name>")``, ``("identity", "")``."""


@dataclass(frozen=True, slots=True)
class KekCheck:
    """A KMS v2 KEK rotation to verify: every value of the KMS v2 provider ``provider`` must be
    under the key_id its plugin reports now (``key_id_hash``: ``sha256:<hex>`` of it, shown in
    messages; the key_id itself never is)."""

    provider: str
    key_id_hash: str

    @property
    def stored_key(self) -> StoredKey:
        return ("kms-v2", self.provider)

    def describe(self) -> str:
        return (
            f"a key_id of kms-v2 provider {self.provider} other than the current "
            f"{short_hash(self.key_id_hash)}"
        )


_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


@dataclass
class VerifyResult:
    """What an etcd scan of the rotated resources found.

    ``by_key``: values per ``(provider, key name)``; ``remaining``: those under an ``old`` key
    (or, with ``kek``, under that provider's previous key_id), per resource; ``named``: the
    first :data:`MAX_NAMED` etcd keys among them (or undecryptable); ``outside``: values in the
    scanned ranges that another entry governs.
    """

    old: frozenset[StoredKey]
    total: int = 0
    by_key: Counter[StoredKey] = field(default_factory=Counter)
    remaining: Counter[str] = field(default_factory=Counter)
    undecryptable: int = 0
    outside: int = 0
    named: list[str] = field(default_factory=list)
    allow_empty: bool = False
    kek: KekCheck | None = None

    @property
    def passed(self) -> bool:
        empty = self.total == 0 and not self.allow_empty
        return not self.remaining and not self.undecryptable and not empty

    def summary(self) -> str:
        """One line: PASSED/FAILED, counts and keys named, never a value."""
        old = self._old_text()
        if self.passed:
            return f"PASSED: none of {self.total} stored values is under {old}"
        if self.total == 0:
            return "FAILED: the scan found no stored value at all; is --etcd-prefix right?"
        problems = []
        if self.remaining:
            per = ", ".join(f"{res or 'unknown'} {n}" for res, n in sorted(self.remaining.items()))
            problems.append(f"{sum(self.remaining.values())} still under {old} ({per})")
        if self.undecryptable:
            problems.append(f"{self.undecryptable} do not decrypt")
        return f"FAILED: of {self.total} stored values, " + "; ".join(problems)

    def _old_text(self) -> str:
        named = [_describe(key) for key in sorted(self.old)]
        if self.kek is not None:
            named.append(self.kek.describe())
        return ", ".join(named) or "no old key"

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "passed": self.passed,
            "total": self.total,
            "byKey": {_describe(key): n for key, n in sorted(self.by_key.items())},
            "remaining": dict(sorted(self.remaining.items())),
            "undecryptable": self.undecryptable,
            "outside": self.outside,
            "named": list(self.named),
        }
        if self.kek is not None:
            document["kek"] = {"provider": self.kek.provider, "keyIdHash": self.kek.key_id_hash}
        return document


def _describe(key: StoredKey) -> str:
    provider, name = key
    if provider == "identity":
        return "identity (plaintext)"
    return f"{provider} {'provider' if provider.startswith('kms') else 'key'} {name}"


def _check_listed(config: EncryptionConfiguration, resources: Sequence[str]) -> None:
    """InputError unless an entry of ``config`` lists one of ``resources``."""
    wanted = set(resources)
    if not any(wanted & set(entry.resources) for entry in config.resources):
        covered = ", ".join(text for entry in config.resources for text in entry.resources)
        raise InputError(
            f"{config.source}: no entry lists {', '.join(resources) or 'any resource'}; its "
            f"entries cover {covered or 'nothing'}"
        )


def verify_etcd(
    store: KeyValueReader,
    config: EncryptionConfiguration,
    resources: Sequence[str],
    old: Collection[StoredKey],
    *,
    etcd_prefix: str = DEFAULT_PREFIX,
    transformers: StorageTransformers | None = None,
    allow_empty: bool = False,
    kek: KekCheck | None = None,
) -> VerifyResult:
    """Scan the etcd ranges of the entries of ``config`` that list ``resources`` (the rotated
    ones) and count what is still under ``old`` (and, with ``kek``, what of that provider is
    stale: under a key_id other than the plugin's current one); see the module docstring.

    Raises:
        ValueError: ``kek`` without ``transformers`` (staleness needs the values decrypted).
        InputError: no entry of ``config`` lists any of ``resources``.
        BackendUnavailable: etcd (or, with ``transformers``, a KMS plugin) did not answer.
    """
    if kek is not None and transformers is None:
        raise ValueError("verify_etcd: a KEK check needs transformers to read each key_id")
    _check_listed(config, resources)
    rotated = tuple(entry for entry in config.resources if set(resources) & set(entry.resources))
    prefixes = config_prefixes(dataclasses.replace(config, resources=rotated), etcd_prefix)
    result = VerifyResult(frozenset(old), allow_empty=allow_empty, kek=kek)
    stale_key = None if kek is None else kek.stored_key
    governs: dict[str, bool] = {}

    def rotating(resource: str) -> bool:
        if resource not in governs:  # unknown keys count: failing safe beats a lost value
            entries = resolve(config, resource).entries if resource else rotated
            governs[resource] = bool(entries) and any(entries[0] is e for e in rotated)
        return governs[resource]

    def count(item: ScannedObject) -> None:
        if not rotating(item.resource):
            result.outside += 1
            return
        key = (item.provider, item.key_name)
        result.total += 1
        result.by_key[key] += 1
        under_old = key in result.old or (key == stale_key and item.stale is True)
        bad = under_old or item.decryptable is False
        if under_old:
            result.remaining[item.resource] += 1
        result.undecryptable += item.decryptable is False
        if bad and len(result.named) < MAX_NAMED:
            result.named.append(item.key)

    summary = ScanSummary()
    for _ in scan(
        store,
        prefixes,
        etcd_prefix=etcd_prefix,
        transformers=transformers,
        summary=summary,
        on_object=count,
    ):
        pass
    return result


@dataclass
class ServerReads:
    """One apiserver's reads: objects read per resource, and what failed (``resource ns/name:
    status`` or ``resource (list): status``)."""

    url: str
    read: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    unserved: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failed


@dataclass
class ApiVerifyResult:
    """Every apiserver's reads; passes when every object read through every one of them."""

    servers: list[ServerReads] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.servers) and all(server.passed for server in self.servers)

    def summary(self) -> str:
        if self.passed:
            counts = ", ".join(f"{s.url} {sum(s.read.values())}" for s in self.servers)
            return f"PASSED: every object read through every apiserver ({counts})"
        failing = [s for s in self.servers if s.failed]
        if not failing:
            return "FAILED: no apiserver to read through"
        parts = [
            f"{s.url}: {len(s.failed)} unreadable ({', '.join(s.failed[:3])})" for s in failing
        ]
        return "FAILED: " + "; ".join(parts)


async def verify_api(
    clients: Sequence[AsyncClient],
    resources: Sequence[str],
    *,
    concurrency: int = 8,
    qps: float = 50.0,
) -> ApiVerifyResult:
    """Read every object of every resource ``resources`` covers through each client's apiserver.

    Raises:
        InputError: ``concurrency`` below 1 or ``qps`` not positive.
    """
    if concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, not {concurrency}")
    if not qps > 0:
        raise InputError(f"--qps must be positive, not {qps}")
    result = ApiVerifyResult()
    for client in clients:
        result.servers.append(await _read_all(client, resources, concurrency, TokenBucket(qps)))
    return result


async def _read_all(
    client: AsyncClient, resources: Sequence[str], concurrency: int, bucket: TokenBucket
) -> ServerReads:
    http = http_of(client)
    reads = ServerReads(str(http.base_url).rstrip("/"))
    try:
        found = await discover(client, resources, verbs=("list", "get"))
    except KubeError as exc:
        reads.failed.append(f"(discovery): {failure_reason(exc)}")
        return reads
    reads.unserved = found.unserved
    gate = asyncio.Semaphore(concurrency)

    async def read(api: ApiResource, namespace: str | None, name: str) -> None:
        where = f"{namespace}/{name}" if namespace else name
        async with gate:
            await bucket.take()
            try:
                await get_json(http, api.object_path(namespace, name), accept=_METADATA)
            except KubeError as exc:
                if exc.status != 404:  # deleted since the list: nothing left to read
                    reads.failed.append(f"{api.name} {where}: {failure_reason(exc)}")
                return
        reads.read[api.name] += 1

    for api in found.resources:
        params = {"limit": "500"}
        while True:
            await bucket.take()
            try:
                page = await get_json(
                    http, api.collection_path(), accept=_METADATA_LIST, params=params
                )
            except KubeError as exc:
                reads.failed.append(f"{api.name} (list): {failure_reason(exc)}")
                break
            places = [
                ((item.get("metadata") or {}).get("namespace"), (item.get("metadata") or {}))
                for item in page.get("items") or []
            ]
            await asyncio.gather(*(read(api, ns, str(meta.get("name", ""))) for ns, meta in places))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                break
            params["continue"] = token
    return reads
