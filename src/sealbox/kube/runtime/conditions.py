"""Status conditions the way Kubernetes API conventions define them (``metav1.Condition``).

``set_condition`` is pure: it returns the new list. ``lastTransitionTime`` moves only when a
condition's ``status`` changes, so it answers "since when is this not Ready?"; reason, message
and ``observedGeneration`` (which spec the controller judged) are updated every time.
``patch_status`` writes them through the status subresource with a merge patch, the only part of
an object a controller may write without fighting its users over ``spec``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from lightkube import AsyncClient
from lightkube.types import PatchType

__all__ = ["Condition", "patch_status", "set_condition"]

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition: ``type`` (``Ready``), ``status``, a CamelCase ``reason`` and a message."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def _timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    condition: Condition,
    *,
    observed_generation: int,
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    """``conditions`` with ``condition`` set (added, or updated in place; others kept)."""
    result: list[dict[str, Any]] = []
    found = False
    for existing in conditions:
        entry = dict(existing)
        if entry.get("type") == condition.type:
            found = True
            changed = entry.get("status") != condition.status
            entry.update(
                status=condition.status,
                reason=condition.reason,
                message=condition.message,
                observedGeneration=observed_generation,
            )
            if changed or "lastTransitionTime" not in entry:
                entry["lastTransitionTime"] = _timestamp(now)
        result.append(entry)
    if not found:
        result.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": observed_generation,
                "lastTransitionTime": _timestamp(now),
            }
        )
    return result


async def patch_status(
    client: AsyncClient,
    resource: type,
    name: str,
    status: Mapping[str, Any],
    *,
    namespace: str | None = None,
) -> Any:
    """Merge ``status`` into the object's status subresource (``resource`` must have
    ``.Status``, as lightkube's resources with a status subresource do)."""
    subresource = cast(Any, resource).Status
    return await client.patch(
        subresource,
        name,
        {"status": dict(status)},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )
