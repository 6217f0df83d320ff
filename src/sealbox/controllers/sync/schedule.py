"""How fresh the values of a sync must be, and where in the interval each one falls.

A remote check (a version read) is shared by every ExternalSecret that reads the same key; how
old a check one sync may reuse decides both how fresh its values are and how many checks a
cycle costs. :func:`fresh_after` gives that bound per refresh reason; :func:`phase_seed` places
ExternalSecrets in the jitter of their interval by what they read, so those that read the same
keys come due at the same moment; :func:`synced_version` is the ``syncedResourceVersion`` a
completed sync records.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from sealbox.sync import ExternalSecretSpec, RefreshReason, StoreKind, synced_resource_version

__all__ = ["FORCED_FRESHNESS", "fresh_after", "latest", "phase_seed", "synced_version"]

#: An edited ExternalSecret (its spec, a label or annotation such as force-sync) reuses a remote
#: check at most this old: none, the user asked for the store as it is now. Any older check may
#: predate a value they wrote just before (a script writing the store, then annotating): that
#: check would be taken as current and the new value would wait a whole refreshInterval.
FORCED_FRESHNESS = datetime.timedelta(0)


def _created(metadata: Mapping[str, Any]) -> datetime.datetime | None:
    stamp = metadata.get("creationTimestamp")
    if not isinstance(stamp, str):
        return None
    try:
        created = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return created if created.tzinfo is not None else created.replace(tzinfo=datetime.UTC)


def fresh_after(
    spec: ExternalSecretSpec,
    reason: RefreshReason,
    metadata: Mapping[str, Any],
    *,
    now: datetime.datetime,
    term_started: datetime.datetime,
) -> datetime.datetime:
    """The oldest remote check a sync for ``reason`` may reuse (checks are shared by every
    ExternalSecret reading the same remote key).

    Never older than the refresh interval, so a value is at most one interval old, as with a
    fetch of its own. Within that: an edited ExternalSecret wants the store as it is now
    (:data:`FORCED_FRESHNESS`: a check of its own); a never-synced one a check made since it
    was created (or since this leadership term began, for one that was there before); a
    periodic refresh or a
    repaired target any check of the last interval, which is what lets the ExternalSecrets of
    one key fall into step and share one check per cycle.
    """
    floor = now - max(spec.refresh_interval, FORCED_FRESHNESS)
    if reason is RefreshReason.CHANGED:
        return max(floor, now - FORCED_FRESHNESS)
    if reason is RefreshReason.NEVER_SYNCED:
        created = _created(metadata)
        since = term_started if created is None else max(created, term_started)
        return max(floor, min(since, now))
    return floor


def synced_version(metadata: Mapping[str, Any]) -> str:
    """The ``syncedResourceVersion`` of an ExternalSecret with this ``metadata``."""
    generation = metadata.get("generation")
    return synced_resource_version(
        generation if isinstance(generation, int) else 0,
        metadata.get("labels") or None,
        metadata.get("annotations") or None,
    )


def latest(
    one: datetime.datetime | None, other: datetime.datetime | None
) -> datetime.datetime | None:
    """The later of two optional times (None when both are)."""
    if one is None or other is None:
        return one or other
    return max(one, other)


def phase_seed(spec: ExternalSecretSpec, namespace: str) -> str:
    """What fixes an ExternalSecret's place in the jitter of its interval
    (:func:`~sealbox.sync.next_refresh`): its store and the remote keys it reads.

    ExternalSecrets that read the same keys from the same store therefore come due at the same
    moment and one version check serves them all (the reader coalesces the requests in flight),
    a key costs one check per interval, and different keys still spread over the jitter window.
    """
    ref = spec.store_ref
    where = "" if ref.kind is StoreKind.CLUSTER_SECRET_STORE else namespace
    keys: set[str] = {item.remote_ref.key for item in spec.data}
    for item in spec.data_from:
        if item.extract is not None:
            keys.add(item.extract.key)
        elif item.find is not None:
            keys.add(f"find:{item.find.path or ''}:{item.find.name_regexp or ''}")
    return "\n".join([f"{ref.kind.value}/{where}/{ref.name}", *sorted(keys)])
