"""The controller runtime that sealing and external sync share (principle 0: converge by key).

Built on lightkube's async client rather than kopf; ``docs/controllers.md`` says why. One concept
per module:

* :mod:`.watch`: list, then watch from its resourceVersion (whole objects, or metadata only);
  ``KubeGone`` on 410;
* :mod:`.informer`: list+watch into a cache, relisting on 410; changes become keys;
* :mod:`.queue` and :mod:`.backoff`: the deduplicating work queue with per-key retries;
* :mod:`.controller`: one leadership term of informers, workers and resync;
* :mod:`.leader`: Lease leader election (``coordination.k8s.io/v1``);
* :mod:`.conditions` and :mod:`.events`: status conditions and Events;
* :mod:`.metrics` and :mod:`.health`: ``sealbox_controller_*`` series, ``/healthz``, ``/readyz``;
* :mod:`.manager`: the process around it all (signals, orderly shutdown, lease release).
"""

from __future__ import annotations

from sealbox.kube.runtime.backoff import Backoff
from sealbox.kube.runtime.conditions import Condition, patch_status, set_condition
from sealbox.kube.runtime.controller import Controller, ControllerOptions, Reconcile, Watch
from sealbox.kube.runtime.events import REPORTING_CONTROLLER, EventRecorder, Regarding
from sealbox.kube.runtime.health import HealthServer
from sealbox.kube.runtime.informer import Informer
from sealbox.kube.runtime.leader import LeaderElector, LeaseConfig
from sealbox.kube.runtime.manager import run_controller
from sealbox.kube.runtime.metrics import ControllerMetrics
from sealbox.kube.runtime.microtime import micro_now
from sealbox.kube.runtime.queue import WorkQueue
from sealbox.kube.runtime.watch import (
    FieldSelector,
    LabelSelector,
    ListResult,
    WatchEvent,
    list_objects,
    object_key,
    object_version,
    watch_from,
)

__all__ = [
    "REPORTING_CONTROLLER",
    "Backoff",
    "Condition",
    "Controller",
    "ControllerMetrics",
    "ControllerOptions",
    "EventRecorder",
    "FieldSelector",
    "HealthServer",
    "Informer",
    "LabelSelector",
    "LeaderElector",
    "LeaseConfig",
    "ListResult",
    "Reconcile",
    "Regarding",
    "Watch",
    "WatchEvent",
    "WorkQueue",
    "list_objects",
    "micro_now",
    "object_key",
    "object_version",
    "patch_status",
    "run_controller",
    "set_condition",
    "watch_from",
]
