"""When a synced value changes: which keys changed, when to restart whom, and the patch.

Three pieces, each pure, so a controller only wires them to its watch and its clock:

* :class:`ChangedKeys` remembers a digest of each Secret key's value (never the value) and says
  which keys changed since it last saw the Secret. The first sighting is the baseline: a
  controller that restarts reads every Secret once and restarts nothing for values that did not
  change while it was down.
* :class:`RestartDebouncer` gathers restart requests per workload and releases each one a window
  after its first request, so several changes in quick succession (three ExternalSecrets feeding
  one Deployment, a value edited twice) cost one rollout, and a workload rolls at most once per
  window.
* :func:`restart_patch` is the strategic merge patch ``kubectl rollout restart`` sends: a new
  ``kubectl.kubernetes.io/restartedAt`` annotation on the pod template, so the rollout looks the
  same as one a person started, and ``kubectl rollout history`` shows it the same way.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sealbox.sync.consumers import WorkloadRef

__all__ = [
    "DEFAULT_RESTART_WINDOW",
    "RESTARTED_AT",
    "ChangedKeys",
    "RestartDebouncer",
    "restart_patch",
]

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod template annotation ``kubectl rollout restart`` sets (RFC 3339, seconds)."""

DEFAULT_RESTART_WINDOW = 30.0
"""Seconds from a workload's first restart request to its restart."""


def _digest(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).digest()


class ChangedKeys:
    """Per Secret, a digest of each key's value, to tell which keys a new version changed."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, bytes]] = {}

    def __contains__(self, secret: object) -> bool:
        return secret in self._seen

    def baseline(self, namespace: str, secret: str, data: Mapping[str, str | bytes]) -> None:
        """Record ``data`` as the Secret's current values without calling anything a change."""
        self._seen[(namespace, secret)] = {key: _digest(value) for key, value in data.items()}

    def observe(
        self, namespace: str, secret: str, data: Mapping[str, str | bytes]
    ) -> frozenset[str]:
        """The keys added, removed or changed since the last sighting, which ``data`` replaces.

        A Secret not seen before is recorded as the baseline and reports no change.
        """
        before = self._seen.get((namespace, secret))
        self.baseline(namespace, secret, data)
        if before is None:
            return frozenset()
        after = self._seen[(namespace, secret)]
        return frozenset(
            key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
        )

    def forget(self, namespace: str, secret: str) -> None:
        """Drop a deleted Secret: if it comes back, its first sighting is a new baseline."""
        self._seen.pop((namespace, secret), None)


class RestartDebouncer:
    """Restart requests per workload, each released once, ``window`` seconds after the first.

    Requests for a workload already waiting join it (one restart for many changes); a request
    after its release waits a new window, so a workload restarts at most once per window. The
    clock (seconds, monotonic) is injected so tests and the controller share one notion of now.
    """

    def __init__(
        self,
        window: float = DEFAULT_RESTART_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not window >= 0:
            raise ValueError("window must be a number of seconds >= 0")
        self.window = window
        self._clock = clock
        self._due: dict[WorkloadRef, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def request(self, ref: WorkloadRef) -> None:
        """Ask for a restart of ``ref``; joins a request already waiting."""
        self._due.setdefault(ref, self._clock() + self.window)

    def cancel(self, ref: WorkloadRef) -> None:
        """Drop a waiting request (the workload was deleted)."""
        self._due.pop(ref, None)

    def next_due(self) -> float | None:
        """The clock time of the next release, or None when nothing waits."""
        return min(self._due.values(), default=None)

    def release(self) -> list[WorkloadRef]:
        """The workloads whose window has passed, removed from the waiting set, in order."""
        now = self._clock()
        ready = sorted(ref for ref, due in self._due.items() if due <= now)
        for ref in ready:
            del self._due[ref]
        return ready


def restart_patch(now: datetime) -> dict[str, Any]:
    """The strategic merge patch of ``kubectl rollout restart`` at ``now`` (timezone-aware).

    The annotation holds RFC 3339 to the second (Go's ``time.RFC3339``), written here in UTC.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
