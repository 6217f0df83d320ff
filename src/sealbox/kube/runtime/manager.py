"""The process around a controller: health port, leader election, signals, orderly shutdown.

``run_controller`` is what a controller's ``main`` calls. It serves ``/healthz``, ``/readyz`` and
``/metrics``, campaigns for the Lease, and while leading runs :meth:`Controller.lead` beside the
renewal loop. If a renewal deadline is missed the term is cancelled at once and the replica
campaigns again. On SIGTERM or SIGINT (or ``stop``) it stops taking work, lets in-flight
reconciles finish, then releases the Lease so the standby takes over without waiting for it to
expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from sealbox.kube.runtime.controller import Controller
from sealbox.kube.runtime.health import HealthServer
from sealbox.kube.runtime.leader import LeaderElector
from sealbox.kube.runtime.metrics import ControllerMetrics

__all__ = ["run_controller"]

_log = logging.getLogger(__name__)


async def run_controller(
    controller: Controller,
    elector: LeaderElector,
    *,
    metrics: ControllerMetrics,
    health_port: int | None = None,
    health_host: str = "0.0.0.0",  # noqa: S104 - probes come from the kubelet, off-host
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives; return once the Lease is released."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    leader_gauge = metrics.leader.labels(controller.options.name)
    leader_gauge.set(0)

    def ready() -> str | None:
        if stop.is_set():
            return "shutting down"
        if elector.is_leader and not controller.synced:
            return "caches not synced"
        return None

    server = None
    if health_port is not None:
        server = HealthServer(health_host, health_port, ready=ready, metrics=metrics.render)
        await server.start()
    try:
        while not stop.is_set():
            if not await _until(elector.acquire(), stop):
                break
            leader_gauge.set(1)
            try:
                await _one_term(controller, elector, stop)
            finally:
                leader_gauge.set(0)
    finally:
        await elector.release()
        for signum in handled:
            loop.remove_signal_handler(signum)
        if server is not None:
            await server.stop()


async def _one_term(controller: Controller, elector: LeaderElector, stop: asyncio.Event) -> None:
    """Lead until the lease is lost (cancel the work now) or ``stop`` (let the work finish)."""
    stepping_down = asyncio.Event()
    work = asyncio.create_task(controller.lead(stepping_down))
    keep = asyncio.create_task(elector.keep())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work, keep, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if keep.done():  # lost the lease: another replica may act soon, stop at once
            work.cancel()
            _log.warning("%s: lost leadership, stopped acting", controller.options.name)
        else:  # stopping (or the term ended by itself): finish in-flight work while renewing
            stepping_down.set()
        await asyncio.gather(work, return_exceptions=True)
        if work.done() and not work.cancelled() and work.exception() is not None:
            _log.error("%s: controller failed: %r", controller.options.name, work.exception())
    finally:
        for task in (keep, stopped, work):
            task.cancel()
        await asyncio.gather(keep, stopped, work, return_exceptions=True)


async def _until(campaign: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Await ``campaign`` unless ``stop`` comes first; True if the campaign finished."""
    task = asyncio.create_task(campaign)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
            return True
        return False
    finally:
        task.cancel()
        stopped.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
