"""What ``sealbox controller sync`` runs with: every flag, checked, in one frozen value.

The CLI (:mod:`sealbox.cli.controller_sync`) builds it from the flags; tests and the benchmark
build it directly. Defaults are the documented ones (``docs/sync-controller.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sealbox.kube.runtime import LeaseConfig
from sealbox.sync import DEFAULT_RESTART_WINDOW

__all__ = ["DEFAULT_DELIMITERS", "SyncSettings"]

#: Go's template delimiters; ``--template-left-delimiter``/``--template-right-delimiter``
#: change them controller-wide (ESO's flags), e.g. to ``<<``/``>>`` beside Helm.
DEFAULT_DELIMITERS = ("{{", "}}")


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """The sync controller's configuration.

    ``namespaces`` None watches every namespace. Rates are provider calls per second (0: no
    limit): each store has its own bucket (``store_rate``/``store_burst``) and all stores share
    one (``total_rate``/``total_burst``). ``restart_window`` is the rollout debounce in seconds.
    ``metrics_listen`` serves ``/metrics``, ``/healthz`` and ``/readyz`` (None: off).
    """

    lease: LeaseConfig
    namespaces: tuple[str, ...] | None = None
    workers: int = 4
    store_rate: float = 10.0
    store_burst: int = 20
    total_rate: float = 50.0
    total_burst: int = 100
    restart_window: float = DEFAULT_RESTART_WINDOW
    delimiters: tuple[str, str] = DEFAULT_DELIMITERS
    metrics_listen: tuple[str, int] | None = ("0.0.0.0", 8081)  # noqa: S104 - scraped off-host
    resync_seconds: float = 600.0
