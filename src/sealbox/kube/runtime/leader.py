"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does.

One replica acts; the others wait. The Lease holds ``holderIdentity``, ``leaseDurationSeconds``,
``acquireTime``, ``renewTime`` and ``leaseTransitions``; every write is a PUT carrying the
``resourceVersion`` that was read, so two candidates racing for it cannot both win (one gets 409).

Timing, and why it is safe without synchronised clocks: a candidate never compares its clock with
the ``renewTime`` written by another host. It notes, on its own monotonic clock, when it first saw
the current record, and takes the Lease only after ``leaseDurationSeconds`` more have passed
without the record changing. The leader counts its own deadline from the moment it *sent* its
last successful renewal (before the server stored it, so before any candidate could have seen it)
and stops acting once ``renew_deadline_seconds`` (< the lease duration) pass without another.
So a leader that cannot renew has stopped before anyone may take over.

``release`` empties ``holderIdentity`` on graceful shutdown, so the next candidate takes over at
its next poll instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from lightkube import AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from sealbox.errors import KubeError, KubeNotFound
from sealbox.kube.errors import kube_errors
from sealbox.kube.runtime.microtime import micro_now

__all__ = ["LeaderElector", "LeaseConfig"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    """Which Lease, who we are, and the three durations client-go uses (same defaults)."""

    name: str
    namespace: str
    identity: str
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("a leader election needs a non-empty identity")
        if not 0 < self.retry_period_seconds < self.renew_deadline_seconds:
            raise ValueError("retry_period_seconds must be below renew_deadline_seconds")
        if not self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError("renew_deadline_seconds must be below lease_duration_seconds")


class LeaderElector:
    """Campaigns for, renews and releases one Lease; ``is_leader`` says whether we may act."""

    def __init__(
        self,
        client: AsyncClient,
        config: LeaseConfig,
        *,
        on_change: Callable[[bool], None] | None = None,
        on_renew: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_change(leading)`` when leadership starts or ends; ``on_renew(sent)`` after each
        successful write, with the wall-clock time its request was sent (for logs and tests)."""
        self.client = client
        self.config = config
        self._on_change = on_change
        self._on_renew = on_renew
        self._clock = clock
        self._observed: tuple[object, ...] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self.is_leader = False

    async def acquire(self) -> None:
        """Return once this replica holds the Lease (poll every retry period until then)."""
        while not await self._attempt():
            await asyncio.sleep(self.config.retry_period_seconds)
        self._set_leader(True)
        _log.info("became leader of lease %s", self.config.name)

    async def keep(self) -> None:
        """Renew every retry period; return (no longer leader) once a renewal deadline is missed
        or another holder is seen."""
        config = self.config
        while True:
            deadline = self._renewed_at + config.renew_deadline_seconds
            try:
                renewed = await asyncio.wait_for(
                    self._attempt(), timeout=max(0.0, deadline - self._clock())
                )
            except TimeoutError:
                renewed = False
            if not renewed and (self._clock() >= deadline or self._held_by_other()):
                self._set_leader(False)
                _log.warning("lost lease %s", config.name)
                return
            pause = config.retry_period_seconds
            await asyncio.sleep(
                max(0.0, min(pause, deadline - self._clock())) if not renewed else pause
            )

    async def release(self) -> bool:
        """Give the Lease up (graceful shutdown) so another replica takes it at once."""
        was_leader = self.is_leader
        self._set_leader(False)
        if not was_leader:
            return False
        try:
            with kube_errors():
                lease = await self.client.get(
                    Lease, self.config.name, namespace=self.config.namespace
                )
            spec = lease.spec or LeaseSpec()
            if spec.holderIdentity != self.config.identity:
                return False
            now = micro_now()
            lease.spec = LeaseSpec(
                holderIdentity=None,
                leaseDurationSeconds=1,
                acquireTime=now,
                renewTime=now,
                leaseTransitions=spec.leaseTransitions,
            )
            with kube_errors():
                await self.client.replace(lease)
        except KubeError as exc:
            _log.warning("could not release lease %s: %s", self.config.name, exc)
            return False
        _log.info("released lease %s", self.config.name)
        return True

    async def _attempt(self) -> bool:
        """One try to acquire or renew; False if someone else holds it or we lost a race."""
        config = self.config
        started = self._clock()
        sent = time.time()
        now = micro_now()
        try:
            with kube_errors():
                lease = await self.client.get(Lease, config.name, namespace=config.namespace)
        except KubeNotFound:
            return await self._create(now, started, sent)
        except KubeError as exc:
            _log.warning("reading lease %s failed: %s", config.name, exc)
            return False
        spec = lease.spec or LeaseSpec()
        self._observe(spec)
        if self._held_by_other():
            return False
        ours = spec.holderIdentity == config.identity
        lease.spec = LeaseSpec(
            holderIdentity=config.identity,
            leaseDurationSeconds=max(1, round(config.lease_duration_seconds)),
            acquireTime=spec.acquireTime if ours and spec.acquireTime else now,
            renewTime=now,
            leaseTransitions=(spec.leaseTransitions or 0) + (0 if ours else 1),
        )
        try:
            with kube_errors():  # the PUT carries metadata.resourceVersion: 409 on a race
                await self.client.replace(lease)
        except KubeError as exc:
            _log.info("writing lease %s failed: %s", config.name, exc)
            return False
        self._renewed(started, sent)
        return True

    async def _create(self, now: datetime.datetime, started: float, sent: float) -> bool:
        config = self.config
        lease = Lease(
            metadata=ObjectMeta(name=config.name, namespace=config.namespace),
            spec=LeaseSpec(
                holderIdentity=config.identity,
                leaseDurationSeconds=max(1, round(config.lease_duration_seconds)),
                acquireTime=now,
                renewTime=now,
                leaseTransitions=0,
            ),
        )
        try:
            with kube_errors():
                await self.client.create(lease)
        except KubeError as exc:
            _log.info("creating lease %s failed: %s", config.name, exc)
            return False
        self._renewed(started, sent)
        return True

    def _renewed(self, started: float, sent: float) -> None:
        self._renewed_at = started
        if self._on_renew is not None:
            self._on_renew(sent)

    def _observe(self, spec: LeaseSpec) -> None:
        record = (
            spec.holderIdentity,
            spec.renewTime,
            spec.acquireTime,
            spec.leaseTransitions,
            spec.leaseDurationSeconds,
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = self._clock()

    def _held_by_other(self) -> bool:
        if self._observed is None:
            return False
        holder, duration = self._observed[0], self._observed[4]
        if not holder or holder == self.config.identity:
            return False
        seconds = (
            float(duration) if isinstance(duration, int) else self.config.lease_duration_seconds
        )
        return self._observed_at + seconds > self._clock()

    def _set_leader(self, leading: bool) -> None:
        if leading != self.is_leader:
            self.is_leader = leading
            if self._on_change is not None:
                self._on_change(leading)
