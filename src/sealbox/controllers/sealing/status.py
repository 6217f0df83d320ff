"""The SealedSecret's status as upstream writes it, so Argo CD health and dashboards keep working.

Upstream's shape, not ``metav1.Condition``: ``status.conditions`` holds one ``Synced`` condition
with ``status``, ``message``, ``lastUpdateTime`` (every write) and ``lastTransitionTime`` (only
when ``status`` flips), and ``status.observedGeneration``. Upstream leaves ``reason`` empty; here
it carries a code (``Unsealed`` on success; ``NoMatchingKey``, ``ScopeMismatch``,
``TemplateError``, ``InvalidSealedSecret``, ``ForeignSecret``, ``Immutable`` on failure), which
the shipped Argo CD health check puts in front of the message.

Upstream writes only when the condition flipped or the generation changed. That kept a stale
failure message after a later success with the same status (#739, #1516); here a change of
reason or message is a change too, so the condition always describes the last unseal.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SYNCED", "UNSEALED", "SyncResult", "next_status"]

SYNCED = "Synced"
#: The reason code of a successful unseal (the event reason of the same moment).
UNSEALED = "Unsealed"


@dataclass(frozen=True, slots=True)
class SyncResult:
    """How one unseal ended: ``ok``, a reason code, and a message naming items (never values)."""

    ok: bool
    reason: str
    message: str = ""


def _timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_status(
    status: Mapping[str, Any] | None,
    result: SyncResult,
    *,
    generation: int,
    now: datetime.datetime,
) -> dict[str, Any] | None:
    """The status to write after ``result``, or None when the current one already says it.

    Other condition types (none upstream) are kept; the ``Synced`` one is replaced in place.
    """
    current = dict(status or {})
    conditions = [dict(c) for c in current.get("conditions") or () if isinstance(c, Mapping)]
    old = next((c for c in conditions if c.get("type") == SYNCED), None)
    wanted = "True" if result.ok else "False"
    message = "" if result.ok else result.message
    unchanged = (
        old is not None
        and old.get("status") == wanted
        and (old.get("reason") or "") == result.reason
        and (old.get("message") or "") == message
        and current.get("observedGeneration") == generation
    )
    if unchanged:
        return None
    stamp = _timestamp(now)
    condition: dict[str, Any] = {
        "type": SYNCED,
        "status": wanted,
        "reason": result.reason,
        "message": message,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }
    if old is not None and old.get("status") == wanted and old.get("lastTransitionTime"):
        condition["lastTransitionTime"] = old["lastTransitionTime"]
    if old is None:
        conditions.append(condition)
    else:
        conditions[conditions.index(old)] = condition
    current["conditions"] = conditions
    current["observedGeneration"] = generation
    return current
