"""A small controller for the runtime's tests, run as a subprocess: one replica per process.

It reconciles the ConfigMaps of one namespace by writing its replica id into the annotation
``sealbox.test/reconciled-by`` (and an Event the first time), and appends one JSON line per
happening to its own log (``leading``, ``renewed``, ``start``/``end`` of each reconcile,
``released``, ``exit``) with wall-clock times, so a test can compare two replicas' logs.

    python -m tests.kube.runtime.replica --kubeconfig K --namespace NS --identity ID --log FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from lightkube.resources.core_v1 import ConfigMap
from lightkube.types import PatchType

from sealbox.kube import KubeTarget, async_client
from sealbox.kube.runtime import (
    Controller,
    ControllerMetrics,
    ControllerOptions,
    EventRecorder,
    Informer,
    LeaderElector,
    LeaseConfig,
    Regarding,
    run_controller,
)

ANNOTATION = "sealbox.test/reconciled-by"
RECONCILE_SECONDS = 0.05  # long enough that two replicas acting at once would overlap


class Journal:
    def __init__(self, path: Path, identity: str) -> None:
        self.path = path
        self.identity = identity

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"t": time.time(), "event": event, "replica": self.identity, **fields})
        with self.path.open("a") as handle:
            handle.write(line + "\n")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--lease-name", default="sealbox-test-controller")
    parser.add_argument("--lease-duration", type=float, default=4.0)
    parser.add_argument("--renew-deadline", type=float, default=3.0)
    parser.add_argument("--retry-period", type=float, default=0.5)
    parser.add_argument("--health-port", type=int, default=0)
    return parser.parse_args()


async def _main(args: argparse.Namespace) -> None:
    journal = Journal(args.log, args.identity)
    client = async_client(KubeTarget(kubeconfig=args.kubeconfig))
    informer = Informer(client, ConfigMap, namespace=args.namespace)
    events = EventRecorder(client, instance=args.identity)

    async def reconcile(key: str) -> float | None:
        journal.write("start", key=key)
        try:
            current = informer.get(key)
            await asyncio.sleep(RECONCILE_SECONDS)
            if current is None:
                return None
            annotations = current.metadata.annotations or {}
            if annotations.get(ANNOTATION) != args.identity:
                name = str(current.metadata.name)
                patch = {"metadata": {"annotations": {ANNOTATION: args.identity}}}
                await client.patch(
                    ConfigMap, name, patch, namespace=args.namespace, patch_type=PatchType.MERGE
                )
                await events.record(
                    Regarding("v1", "ConfigMap", name, args.namespace, current.metadata.uid),
                    type="Normal",
                    reason="Reconciled",
                    action="Annotate",
                    note=f"annotated by {args.identity}",
                )
            return None
        finally:
            journal.write("end", key=key)

    metrics = ControllerMetrics()
    controller = Controller(
        ControllerOptions("test-configmaps", workers=2, resync_seconds=30.0),
        reconcile,
        informers=[informer],
        metrics=metrics,
    )

    def changed(leading: bool) -> None:
        journal.write("leading" if leading else "stopped-leading")

    elector = LeaderElector(
        client,
        LeaseConfig(
            args.lease_name,
            args.namespace,
            args.identity,
            lease_duration_seconds=args.lease_duration,
            renew_deadline_seconds=args.renew_deadline,
            retry_period_seconds=args.retry_period,
        ),
        on_change=changed,
        on_renew=lambda sent: journal.write("renewed", sent=sent),
    )
    journal.write("started")
    await run_controller(
        controller, elector, metrics=metrics, health_port=args.health_port, health_host="127.0.0.1"
    )
    journal.write("exit")
    await client.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request drowns the rest
    asyncio.run(_main(_arguments()))


if __name__ == "__main__":
    main()
