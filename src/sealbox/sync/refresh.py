"""When an ExternalSecret is fetched again, and the marks its target Secret carries (ESO's rules).

ESO records in the ExternalSecret's status the ``refreshTime`` of the last sync and a
``syncedResourceVersion``, ``"<generation>-<hash of labels and annotations>"``. A refresh is due
(:func:`needs_refresh`) according to ``refreshPolicy``:

* ``Periodic`` (the default): never again after the first sync when ``refreshInterval`` is 0;
  otherwise when the version string changed (a spec edit, or any label or annotation such as
  ``external-secrets.io/force-sync``), when ``refreshTime`` is unset or in the future (a clock
  that went back), or when more than the interval has passed since it;
* ``OnChange``: on the first sync and when the version string changes;
* ``CreatedOnce``: only on the first sync.

The hashes are ESO's, byte for byte, so an ExternalSecret or Secret that ESO synced is not
refreshed or rewritten just because Sealbox took over: SHA3-224 over Go's ``%+v`` text of the
value (``{annotations:map[a:b] labels:map[]}``; a Secret's data as ``map[key:[98 97 114]]``).

:func:`next_refresh` adds what ESO lacks: a deterministic per-object offset derived from the
object's uid. Periodic refreshes of objects synced together drift apart instead of firing
together, and after a controller restart the overdue ones are spread over a window instead of
all fetched in the first second (ESO's refresh storm, spec §4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sealbox.sync.model import ExternalSecretSpec, RefreshPolicy

__all__ = [
    "ANNOTATION_DATA_HASH",
    "ANNOTATION_FORCE_SYNC",
    "JITTER_FRACTION",
    "LABEL_MANAGED",
    "LABEL_MANAGED_VALUE",
    "LABEL_OWNER",
    "MAX_JITTER",
    "STARTUP_SPREAD",
    "Decision",
    "RefreshReason",
    "SyncStatus",
    "data_hash",
    "field_manager",
    "needs_refresh",
    "next_refresh",
    "owner_label",
    "synced_resource_version",
]

# On the target Secret (spec §1.8), ESO's names so either controller recognises the other's work.
LABEL_MANAGED = "reconcile.external-secrets.io/managed"
LABEL_MANAGED_VALUE = "true"
ANNOTATION_DATA_HASH = "reconcile.external-secrets.io/data-hash"
LABEL_OWNER = "reconcile.external-secrets.io/created-by"
# On the ExternalSecret: the habitual way to ask for a sync now (any annotation change does).
ANNOTATION_FORCE_SYNC = "external-secrets.io/force-sync"

JITTER_FRACTION = 0.1  # a periodic refresh comes up to 10% of the interval late...
MAX_JITTER = timedelta(minutes=5)  # ...but never more than this
STARTUP_SPREAD = timedelta(minutes=1)  # overdue refreshes are spread over this (or the interval)
_JUST_AFTER = timedelta(microseconds=1)  # ESO refreshes once *more* than the interval has passed


class RefreshReason(StrEnum):
    """Why :func:`needs_refresh` decided as it did (for logs and the debug endpoint)."""

    NEVER_SYNCED = "NeverSynced"
    CHANGED = "Changed"
    INTERVAL_ELAPSED = "IntervalElapsed"
    REFRESH_TIME_IN_FUTURE = "RefreshTimeInFuture"
    NOT_DUE = "NotDue"
    SYNCED_ONCE = "SyncedOnce"
    UNCHANGED = "Unchanged"


@dataclass(frozen=True, slots=True)
class Decision:
    """Refresh or not, and why. True in a boolean context when a refresh is due."""

    refresh: bool
    reason: RefreshReason

    def __bool__(self) -> bool:
        return self.refresh


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """What an ExternalSecret's status says about its last sync."""

    refresh_time: datetime | None = None
    synced_resource_version: str = ""

    @classmethod
    def from_status(cls, status: object) -> SyncStatus:
        """Read ``status.refreshTime`` (RFC 3339) and ``status.syncedResourceVersion``; anything
        unreadable counts as never synced, which only causes one more fetch."""
        if not isinstance(status, Mapping):
            return cls()
        version = status.get("syncedResourceVersion")
        return cls(
            _timestamp(status.get("refreshTime")), version if isinstance(version, str) else ""
        )


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Kubernetes' zero time (metav1.Time{}) serialises as null, but Go's zero as text is year 1.
    return None if parsed.year <= 1 else parsed


def _go_value(value: str | bytes | Mapping[str, Any]) -> str:
    """Go's ``%+v`` text for the shapes ESO hashes: strings, byte slices, maps with sorted keys."""
    if isinstance(value, bytes):
        return "[" + " ".join(str(byte) for byte in value) + "]"
    if isinstance(value, str):
        return value
    return "map[" + " ".join(f"{key}:{_go_value(value[key])}" for key in sorted(value)) + "]"


def _object_hash(text: str) -> str:
    """ESO's ``ObjectHash``: SHA3-224 of the ``%+v`` text, in hex."""
    return hashlib.sha3_224(text.encode("utf-8")).hexdigest()


def synced_resource_version(
    generation: int, labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None
) -> str:
    """ESO's ``GetResourceVersion``: ``"<generation>-<hash of annotations and labels>"``."""
    text = f"{{annotations:{_go_value(annotations or {})} labels:{_go_value(labels or {})}}}"
    return f"{generation}-{_object_hash(text)}"


def data_hash(data: Mapping[str, bytes]) -> str:
    """The ``reconcile.external-secrets.io/data-hash`` of a Secret's (decoded) data: a Secret
    whose annotation no longer matches was edited by someone else and is written again."""
    return _object_hash(_go_value(data))


def owner_label(namespace: str, name: str) -> str:
    """The ``reconcile.external-secrets.io/created-by`` value: the owning ExternalSecret's
    ``namespace/name``, hashed (a label value cannot hold a slash and is at most 63 chars)."""
    return _object_hash(f"{namespace}/{name}")


def field_manager(name: str) -> str:
    """The field manager for ExternalSecret ``name``'s writes to its target, ESO's:
    ``externalsecrets.external-secrets.io/<name>``, or when that is longer than 63 characters
    ``externalsecrets.external-secrets.io/sha3/<SHA3-224 of name>`` (long names broke ESO #4052).
    """
    manager = f"externalsecrets.external-secrets.io/{name}"
    if len(manager) <= 63:
        return manager
    return f"externalsecrets.external-secrets.io/sha3/{_object_hash(name)}"


def _metadata_version(metadata: Mapping[str, Any]) -> str:
    generation = metadata.get("generation")
    labels = metadata.get("labels")
    annotations = metadata.get("annotations")
    return synced_resource_version(
        generation if isinstance(generation, int) else 0,
        labels if isinstance(labels, Mapping) else None,
        annotations if isinstance(annotations, Mapping) else None,
    )


def needs_refresh(
    spec: ExternalSecretSpec, status: SyncStatus, metadata: Mapping[str, Any], now: datetime
) -> Decision:
    """Is a fetch due for the ExternalSecret with this ``spec``, ``status`` and ``metadata``
    (its ObjectMeta as a dict: ``generation``, ``labels``, ``annotations``) at ``now``?

    ESO's ``shouldRefresh`` exactly, sync windows aside (not supported): see the module text.
    """
    never = status.synced_resource_version == "" or status.refresh_time is None
    policy = spec.refresh_policy
    if policy in (RefreshPolicy.CREATED_ONCE, RefreshPolicy.ON_CHANGE):
        if never:
            return Decision(True, RefreshReason.NEVER_SYNCED)
        if policy is RefreshPolicy.CREATED_ONCE:
            return Decision(False, RefreshReason.SYNCED_ONCE)
        if status.synced_resource_version != _metadata_version(metadata):
            return Decision(True, RefreshReason.CHANGED)
        return Decision(False, RefreshReason.UNCHANGED)
    if spec.refresh_interval <= timedelta(0) and status.synced_resource_version:
        return Decision(False, RefreshReason.SYNCED_ONCE)
    if status.synced_resource_version != _metadata_version(metadata):
        reason = (
            RefreshReason.CHANGED if status.synced_resource_version else RefreshReason.NEVER_SYNCED
        )
        return Decision(True, reason)
    if status.refresh_time is None:
        return Decision(True, RefreshReason.NEVER_SYNCED)
    if status.refresh_time > now:
        return Decision(True, RefreshReason.REFRESH_TIME_IN_FUTURE)
    if status.refresh_time + spec.refresh_interval < now:
        return Decision(True, RefreshReason.INTERVAL_ELAPSED)
    return Decision(False, RefreshReason.NOT_DUE)


def _phase(uid: str) -> float:
    """A number in [0, 1) fixed by ``uid``: the object's place in every spread."""
    digest = hashlib.sha256(uid.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def next_refresh(
    spec: ExternalSecretSpec,
    status: SyncStatus,
    uid: str,
    now: datetime,
    *,
    startup_spread: timedelta = STARTUP_SPREAD,
) -> datetime | None:
    """When to look at a synced ExternalSecret again for a periodic refresh; None when only a
    change of the object can make it due (``OnChange``, ``CreatedOnce``, interval 0).

    The time is ``refreshTime + interval + jitter``, the jitter being ``uid``'s fixed share of
    ``min(10% of the interval, 5 min)``, and always after the interval has passed, so
    :func:`needs_refresh` agrees when it comes. A time already past (the controller was down)
    becomes ``now`` plus ``uid``'s share of ``min(interval, startup_spread)``, so a restart
    spreads the overdue fetches instead of sending them at once. Never synced: ``now``.
    """
    interval = spec.refresh_interval
    if spec.refresh_policy is not RefreshPolicy.PERIODIC or interval <= timedelta(0):
        return None
    if status.refresh_time is None or status.refresh_time > now:
        return now
    phase = _phase(uid)
    jitter = max(min(interval * JITTER_FRACTION, MAX_JITTER) * phase, _JUST_AFTER)
    due = status.refresh_time + interval + jitter
    if due >= now:
        return due
    return now + min(interval, startup_spread) * phase
