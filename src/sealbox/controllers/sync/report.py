"""What a sync tells the world: the ExternalSecret's status, its Events and the condition metric.

:class:`Reporter` writes the status only when :func:`.status.next_status` says it changed
(an idle refresh writes nothing), records a Warning ``UpdateFailed`` once per new failure (not on
every retry) and keeps ``externalsecret_status_condition`` current. Messages name keys, stores
and fields, never a value.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from lightkube import AsyncClient

from sealbox.controllers.sync.resources import (
    EXTERNAL_SECRET_KIND,
    EXTERNAL_SECRETS_API_VERSION,
    ExternalSecret,
)
from sealbox.controllers.sync.status import EVENT_UPDATE_FAILED, Outcome, next_status
from sealbox.errors import KubeError
from sealbox.kube import kube_errors
from sealbox.kube.runtime import EventRecorder, Regarding, patch_status

__all__ = ["ConditionMetrics", "Reported", "Reporter"]

_log = logging.getLogger("sealbox.controllers.sync.reconcile")

#: The last outcome an Event reported for an ExternalSecret, and its generation then.
Reported = tuple[Outcome, int]


class ConditionMetrics(Protocol):
    def es_condition(self, namespace: str, name: str, condition: str, status: str) -> None: ...


def target_name(es: Mapping[str, Any]) -> str:
    """``spec.target.name``, else the ExternalSecret's name."""
    target = ((es.get("spec") or {}).get("target") or {}).get("name")
    return str(target or es["metadata"]["name"])


class Reporter:
    """Status, Events and the condition metric of ExternalSecrets."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        events: EventRecorder,
        metrics: ConditionMetrics,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self.client = client
        self._events = events
        self._metrics = metrics
        self._clock = clock

    async def finish(
        self,
        es: Mapping[str, Any],
        outcome: Outcome,
        synced_version: str | None,
        *,
        wrote: bool = False,
        reported: Reported | None = None,
    ) -> Reported:
        """Event on a new failure (one not in ``reported``); status when what it records
        changed; the condition metric. Returns what is now reported."""
        metadata = es["metadata"]
        namespace, name = str(metadata["namespace"]), str(metadata["name"])
        generation = int(metadata.get("generation") or 0)
        if not outcome.ok and reported != (outcome, generation):
            await self.event(es, "Warning", EVENT_UPDATE_FAILED, outcome.message)
            _log.warning("%s/%s: %s: %s", namespace, name, outcome.reason, outcome.message)
        self._metrics.es_condition(namespace, name, "Ready", outcome.condition_status)
        status = next_status(
            es.get("status"),
            outcome,
            target=target_name(es),
            synced_version=synced_version,
            wrote=wrote,
            now=self._clock(),
        )
        if status is not None:
            try:
                with kube_errors():
                    await patch_status(
                        self.client, ExternalSecret, name, status, namespace=namespace
                    )
            except KubeError as exc:
                _log.warning("%s/%s: could not write status: %s", namespace, name, exc)
        return (outcome, generation)

    async def event(
        self,
        es: Mapping[str, Any],
        kind: Literal["Normal", "Warning"],
        reason: str,
        note: str,
    ) -> None:
        """An Event about ``es`` (best effort: a refusal is logged by the recorder)."""
        metadata = es["metadata"]
        await self._events.record(
            Regarding(
                EXTERNAL_SECRETS_API_VERSION,
                EXTERNAL_SECRET_KIND,
                str(metadata["name"]),
                str(metadata["namespace"]),
                str(metadata.get("uid") or "") or None,
            ),
            type=kind,
            reason=reason,
            action="Sync",
            note=note,
        )
