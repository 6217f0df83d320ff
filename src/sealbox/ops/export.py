"""Disaster recovery: decrypt what etcd holds back into manifests ``kubectl apply`` accepts.

Every value under the chosen prefixes is read through the apiserver's provider chain and decoded.
Only objects Sealbox decodes completely are exported: Secrets, ConfigMaps and custom resources
(stored as JSON). Other built-in kinds decode to metadata only, so they are reported as skipped
rather than exported half-empty. Values that fail to decrypt are listed with the reason and the
export goes on.

Fields that belong to the old cluster are dropped so the manifests apply to a new one:
``uid``, ``resourceVersion``, ``creationTimestamp``, ``generation``, ``managedFields``,
``selfLink``, deletion fields, and ``ownerReferences`` (their owners' uids do not exist in a
new cluster, and the garbage collector would delete the restored object). ``keep_metadata``
keeps everything.

Keys are exported in key order, prefix after prefix. :attr:`ExportResult.last_key` is the last
key whose fate is settled (written by the caller, failed or skipped); an export interrupted and
started again with ``start_after=last_key`` misses nothing and repeats nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealbox.encryption import StorageTransformers
from sealbox.errors import DecryptError, InputError, ObjectDecodeError
from sealbox.ops.decode import decode_value
from sealbox.ops.scan import describe_key
from sealbox.storage import DEFAULT_PREFIX, KeyResolver, KeyValueReader

__all__ = ["ExportFailure", "ExportResult", "ExportedObject", "export_objects"]

_CLUSTER_FIELDS = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)
_COMPLETE_KINDS = frozenset({"Secret", "ConfigMap"})


@dataclass(frozen=True, slots=True)
class ExportFailure:
    """A value left out of the export, and why (never its content)."""

    key: str
    reason: str
    skipped: bool = False  # True: readable, but not an object Sealbox exports in full


@dataclass
class ExportResult:
    """Filled in while the export runs: how many objects went out, and what was left out."""

    exported: int = 0
    failures: list[ExportFailure] = field(default_factory=list)
    last_key: str | None = None

    @property
    def failed(self) -> list[ExportFailure]:
        """The values that did not decrypt or decode: an export with any of these failed."""
        return [failure for failure in self.failures if not failure.skipped]

    @property
    def skipped(self) -> list[ExportFailure]:
        """Readable values left out on purpose (kinds Sealbox does not decode in full)."""
        return [failure for failure in self.failures if failure.skipped]


@dataclass(frozen=True, slots=True)
class ExportedObject:
    """One object ready for ``kubectl apply``: its etcd key, where it goes, the manifest."""

    key: str
    resource: str
    namespace: str | None
    name: str
    manifest: dict[str, Any] = field(repr=False)


def _portable(manifest: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in manifest.get("metadata", {}).items() if k not in _CLUSTER_FIELDS}
    return {**manifest, "metadata": metadata}


def export_objects(
    store: KeyValueReader,
    prefixes: Sequence[bytes],
    transformers: StorageTransformers,
    result: ExportResult,
    *,
    etcd_prefix: str = DEFAULT_PREFIX,
    keep_metadata: bool = False,
    start_after: str | None = None,
) -> Iterator[ExportedObject]:
    """Decrypted, decoded objects one at a time, in key order, from the keys after
    ``start_after``; failures are recorded in ``result``.

    An object counts as exported (and its key as ``result.last_key``) once the caller asks for
    the next one, i.e. when it has dealt with it.

    Raises:
        BackendUnavailable: etcd, or a KMS plugin the config names, did not answer.
    """
    resolve = KeyResolver(etcd_prefix)
    after = None if start_after is None else start_after.encode()
    for prefix in sorted(prefixes):
        for kv in store.iter_prefix(prefix, start_after=after):
            key = kv.key.decode("utf-8", errors="replace")
            try:
                decoded = decode_value(transformers, key, kv.value)
            except (DecryptError, ObjectDecodeError, InputError) as exc:
                reason = str(exc).removeprefix(key + ": ")
                result.failures.append(ExportFailure(key, reason))
                result.last_key = key
                continue
            manifest = decoded.object
            # Custom resources are stored as JSON (under any encryption): complete objects.
            stored_as_json = decoded.read.data.lstrip().startswith(b"{")
            if manifest.get("kind") not in _COMPLETE_KINDS and not stored_as_json:
                reason = f"{manifest.get('kind')}: only its metadata decodes"
                result.failures.append(ExportFailure(key, reason, skipped=True))
                result.last_key = key
                continue
            resource, namespace, name = describe_key(resolve, key)
            yield ExportedObject(
                key,
                resource,
                namespace,
                name,
                manifest if keep_metadata else _portable(manifest),
            )
            result.exported += 1
            result.last_key = key
