"""Events (``events.k8s.io/v1``) that say when a controller did something to an object.

Conditions say why an object is in its state; Events say what happened when (principle 0).
Every Event names ``reportingController: sealbox`` and the replica as ``reportingInstance``, so
``kubectl events`` shows which replica acted. Recording is best effort: a failure is logged and
never fails the reconcile that caused it. Notes are cut to the API's 1 kB; callers put no secret
value in them.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Literal

from lightkube import AsyncClient
from lightkube.models.core_v1 import ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.events_v1 import Event

from sealbox.errors import KubeError
from sealbox.kube.errors import kube_errors
from sealbox.kube.runtime.microtime import micro_now

__all__ = ["REPORTING_CONTROLLER", "EventRecorder", "Regarding"]

REPORTING_CONTROLLER = "sealbox"
_NOTE_MAX_BYTES = 1024
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Regarding:
    """The object an Event is about."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None


class EventRecorder:
    """Creates Events as ``reportingController: sealbox`` / ``reportingInstance: instance``."""

    def __init__(self, client: AsyncClient, *, instance: str) -> None:
        self.client = client
        self.instance = instance

    async def record(
        self,
        regarding: Regarding,
        *,
        type: Literal["Normal", "Warning"],
        reason: str,
        action: str,
        note: str = "",
    ) -> bool:
        """Create one Event; False (and a log line) if the apiserver refused it."""
        namespace = regarding.namespace or "default"
        event = Event(
            metadata=ObjectMeta(
                name=f"{regarding.name}.{secrets.token_hex(8)}", namespace=namespace
            ),
            eventTime=micro_now(),
            reportingController=REPORTING_CONTROLLER,
            reportingInstance=self.instance,
            action=action,
            reason=reason,
            type=type,
            note=note.encode()[:_NOTE_MAX_BYTES].decode(errors="ignore"),
            regarding=ObjectReference(
                apiVersion=regarding.api_version,
                kind=regarding.kind,
                name=regarding.name,
                namespace=regarding.namespace,
                uid=regarding.uid,
            ),
        )
        try:
            with kube_errors():
                await self.client.create(event)
        except KubeError as exc:
            _log.warning("could not record event %s: %s", reason, exc)
            return False
        return True
