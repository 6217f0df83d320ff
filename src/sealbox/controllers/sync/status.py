"""An ExternalSecret's status as ESO writes it (spec §1.6), so dashboards and ``kubectl get es``
keep working, and the Events that go with it.

``status.conditions`` holds one ``Ready`` condition (``type``, ``status``, ``reason``,
``message``, ``lastTransitionTime``: the fields the CRD keeps; anything else would be pruned and
look like a change on every comparison); ``status.refreshTime`` and
``status.syncedResourceVersion`` record the last sync and ``status.binding.name`` the target.

Reasons are ESO's: ``SecretSynced`` (True), ``SecretSyncedError`` (False: a store, provider,
remote key or template problem, named in the message), ``SecretMissing`` (False: a Merge target
that does not exist), ``SecretDeleted`` (False: deletionPolicy Delete removed the Secret because
its remote value is gone).

:func:`next_status` returns None when the status already says it all, so a refresh that found
nothing new writes nothing: ``refreshTime`` moves only when the sync wrote the Secret or the
condition changed (the controller keeps its own schedule in memory; see ``docs/sync.md``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "EVENT_CREATED",
    "EVENT_DELETED",
    "EVENT_UPDATED",
    "EVENT_UPDATE_FAILED",
    "READY",
    "SECRET_DELETED",
    "SECRET_MISSING",
    "SECRET_SYNCED",
    "SECRET_SYNCED_ERROR",
    "Outcome",
    "next_status",
    "timestamp",
]

READY = "Ready"
SECRET_SYNCED = "SecretSynced"  # noqa: S105 - a reason, not a password
SECRET_SYNCED_ERROR = "SecretSyncedError"  # noqa: S105 - a reason, not a password
SECRET_MISSING = "SecretMissing"  # noqa: S105 - a reason, not a password
SECRET_DELETED = "SecretDeleted"  # noqa: S105 - a reason, not a password

EVENT_CREATED = "Created"
EVENT_UPDATED = "Updated"
EVENT_DELETED = "Deleted"
EVENT_UPDATE_FAILED = "UpdateFailed"

_SYNCED_MESSAGE = "secret synced"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one sync ended: the Ready reason and a message naming keys, stores and fields (never
    a value). ``ok`` is the condition's status."""

    ok: bool
    reason: str
    message: str = _SYNCED_MESSAGE

    @property
    def condition_status(self) -> Literal["True", "False"]:
        return "True" if self.ok else "False"


def timestamp(moment: datetime.datetime) -> str:
    """RFC 3339 to the second in UTC, as ``metav1.Time`` serialises."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_status(
    status: Mapping[str, Any] | None,
    outcome: Outcome,
    *,
    target: str,
    synced_version: str | None,
    wrote: bool,
    now: datetime.datetime,
) -> dict[str, Any] | None:
    """The status to write after ``outcome``, or None when nothing it records changed.

    ``synced_version`` is the ``syncedResourceVersion`` of a completed sync (None: keep the
    current one, the sync did not complete). ``wrote``: the target Secret was written (or
    deleted) by this sync, which moves ``refreshTime``; so does the first sync and any change of
    the condition or version.
    """
    current = dict(status or {})
    conditions = [dict(c) for c in current.get("conditions") or () if isinstance(c, Mapping)]
    old = next((c for c in conditions if c.get("type") == READY), None)
    wanted = outcome.condition_status
    same_condition = (
        old is not None
        and old.get("status") == wanted
        and (old.get("reason") or "") == outcome.reason
        and (old.get("message") or "") == outcome.message
    )
    version = current.get("syncedResourceVersion") or ""
    new_version = version if synced_version is None else synced_version
    same_binding = (current.get("binding") or {}).get("name") == target
    first = outcome.ok and not current.get("refreshTime")
    if same_condition and new_version == version and same_binding and not wrote and not first:
        return None
    stamp = timestamp(now)
    condition: dict[str, Any] = {
        "type": READY,
        "status": wanted,
        "reason": outcome.reason,
        "message": outcome.message,
        "lastTransitionTime": stamp,
    }
    if old is not None and old.get("status") == wanted and old.get("lastTransitionTime"):
        condition["lastTransitionTime"] = old["lastTransitionTime"]
    if old is None:
        conditions.append(condition)
    else:
        conditions[conditions.index(old)] = condition
    current["conditions"] = conditions
    current["binding"] = {"name": target}
    if synced_version is not None:
        current["syncedResourceVersion"] = synced_version
        current["refreshTime"] = stamp
    return current
