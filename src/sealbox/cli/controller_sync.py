"""``sealbox controller sync``: ExternalSecrets (External Secrets Operator's API) into Secrets.

Flags are fields of :class:`SyncFlags` (each ``typer.Option`` rides in its annotation, as
:mod:`.controller_flags` does for the sealing controller), and each can also be set as
``SEALBOX_SYNC_<FLAG>`` (``--store-qps`` is ``SEALBOX_SYNC_STORE_QPS``). ESO's flag names are
kept where ESO has the flag (``--template-left-delimiter``). :func:`sync_settings` checks every
value before anything starts: a bad one is one ``error:`` line naming the flag and what would be
valid, exit 2.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from sealbox.cli import controller_values as values
from sealbox.cli.controller_flags import LogLevel
from sealbox.cli.controller_namespace import own_namespace
from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.cli.option_group import option_group
from sealbox.duration import NANOSECONDS_PER_SECOND, parse_go_duration
from sealbox.errors import InputError

if TYPE_CHECKING:
    from sealbox.controllers.sync import SyncSettings

__all__ = ["SYNC_HELP", "SyncFlags", "env_name", "sync", "sync_settings"]

_ENV = "SEALBOX_SYNC_"
MAX_WORKERS = 64
MAX_RESTART_WINDOW = 600.0  # 10m: a longer debounce leaves pods on an old value too long

SYNC_HELP = (
    "Sync values from external stores (OpenBao/Vault KV, AWS Secrets Manager, Secrets of "
    "another namespace or cluster) into Secrets, with External Secrets Operator's API "
    "(external-secrets.io/v1). It watches ExternalSecrets, SecretStores and "
    "ClusterSecretStores, writes each target Secret and the status, and restarts workloads "
    "that opted in (sealbox.io/restart-on-change) when a key they read at start changes. "
    "Provider calls are budgeted per store (--store-qps) and in total (--provider-qps). The "
    "replica holding the Lease syncs; the others wait to take over. Each flag can also be set "
    "as SEALBOX_SYNC_<FLAG> (e.g. SEALBOX_SYNC_STORE_QPS=5).\n\n"
    "Example:\n\n"
    "  sealbox controller sync --namespace shop --store-qps 5"
)


def env_name(flag: str) -> str:
    """The environment variable that sets ``--flag``: ``SEALBOX_SYNC_<FLAG>``."""
    return _ENV + flag.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class SyncFlags:
    """The flags' values as given; each field's typer option rides in its annotation."""

    namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            envvar=env_name("namespace"),
            metavar="NS",
            help="Sync ExternalSecrets in this namespace (repeat for more; default: every "
            "namespace). In the environment: names separated by spaces.",
            show_default=False,
        ),
    ] = None
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            envvar=env_name("workers"),
            help=f"ExternalSecrets synced at once, 1 to {MAX_WORKERS}.",
        ),
    ] = 4
    store_qps: Annotated[
        float,
        typer.Option(
            "--store-qps",
            envvar=env_name("store-qps"),
            help="Provider calls per second to each store (0: no limit).",
        ),
    ] = 10.0
    store_burst: Annotated[
        int,
        typer.Option(
            "--store-burst",
            envvar=env_name("store-burst"),
            help="Calls a store may get at once beyond its rate (1 or more).",
        ),
    ] = 20
    provider_qps: Annotated[
        float,
        typer.Option(
            "--provider-qps",
            envvar=env_name("provider-qps"),
            help="Provider calls per second to all stores together (0: no limit).",
        ),
    ] = 50.0
    provider_burst: Annotated[
        int,
        typer.Option(
            "--provider-burst",
            envvar=env_name("provider-burst"),
            help="Calls all stores together may get at once beyond the rate (1 or more).",
        ),
    ] = 100
    restart_window: Annotated[
        str,
        typer.Option(
            "--restart-window",
            envvar=env_name("restart-window"),
            help="Restarts of a workload are debounced over this window (Go duration, 0 to "
            "10m; 0 restarts at once).",
        ),
    ] = "30s"
    template_left_delimiter: Annotated[
        str,
        typer.Option(
            "--template-left-delimiter",
            envvar=env_name("template-left-delimiter"),
            help="Opens an action in target templates (ESO's flag; e.g. << beside Helm).",
        ),
    ] = "{{"
    template_right_delimiter: Annotated[
        str,
        typer.Option(
            "--template-right-delimiter",
            envvar=env_name("template-right-delimiter"),
            help="Closes an action in target templates (ESO's flag).",
        ),
    ] = "}}"
    listen_metrics_addr: Annotated[
        str,
        typer.Option(
            "--listen-metrics-addr",
            envvar=env_name("listen-metrics-addr"),
            help="host:port (or :port, every interface) of /metrics, /healthz and /readyz "
            '("" turns them off).',
        ),
    ] = ":8081"
    resync_period: Annotated[
        str,
        typer.Option(
            "--resync-period",
            envvar=env_name("resync-period"),
            help="Every ExternalSecret is looked at again this often (Go duration, more than "
            "0); its refreshInterval decides whether the store is asked.",
        ),
    ] = "10m"
    leader_election_lease_name: Annotated[
        str,
        typer.Option(
            "--leader-election-lease-name",
            envvar=env_name("leader-election-lease-name"),
            help="The Lease the replicas elect a leader with.",
        ),
    ] = "sealbox-sync"
    leader_election_namespace: Annotated[
        str | None,
        typer.Option(
            "--leader-election-namespace",
            envvar=env_name("leader-election-namespace"),
            metavar="NS",
            help="Namespace of the Lease (default: the Pod's own namespace, else the "
            "kubeconfig context's, else kube-system).",
            show_default=False,
        ),
    ] = None
    leader_election_identity: Annotated[
        str | None,
        typer.Option(
            "--leader-election-identity",
            envvar=env_name("leader-election-identity"),
            help="This replica's name in the Lease (default: POD_NAME, else the host name).",
            show_default=False,
        ),
    ] = None
    leader_election_lease_duration: Annotated[
        str,
        typer.Option(
            "--leader-election-lease-duration",
            envvar=env_name("leader-election-lease-duration"),
            help="How long a standby waits for an unrenewed Lease.",
        ),
    ] = "15s"
    leader_election_renew_deadline: Annotated[
        str,
        typer.Option(
            "--leader-election-renew-deadline",
            envvar=env_name("leader-election-renew-deadline"),
            help="How long the leader keeps acting without a renewal (below the lease).",
        ),
    ] = "10s"
    leader_election_retry_period: Annotated[
        str,
        typer.Option(
            "--leader-election-retry-period",
            envvar=env_name("leader-election-retry-period"),
            help="Time between Lease attempts (below the renew deadline).",
        ),
    ] = "2s"
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", envvar=env_name("log-level"), help="Log level.")
    ] = LogLevel.info


with_sync_flags = option_group(SyncFlags, "flags")


@with_kube_options
@with_sync_flags
def sync(*, kube: KubeOptions, flags: SyncFlags) -> None:
    """The command (registered by :mod:`.controller` with :data:`SYNC_HELP`)."""
    settings = sync_settings(flags, kube)  # every flag checked before the controller loads
    from sealbox.controllers.sync import run_sync_controller
    from sealbox.logs import configure_logging

    configure_logging(flags.log_level.value)
    asyncio.run(run_sync_controller(kube.target(), settings))


def sync_settings(flags: SyncFlags, kube: KubeOptions) -> SyncSettings:
    """What the controller runs with, once every flag is checked (and the kubeconfig loads).

    Raises:
        InputError: a flag's value (named, with what would be valid) or the kubeconfig.
    """
    from sealbox.kube import load_config
    from sealbox.kube.runtime import LeaseConfig

    namespaces = _namespaces(flags.namespace)
    _check_counts(flags)
    store_rate = _rate("store-qps", flags.store_qps)
    total_rate = _rate("provider-qps", flags.provider_qps)
    window = _duration("restart-window", flags.restart_window, low=0.0, high=MAX_RESTART_WINDOW)
    resync = _duration("resync-period", flags.resync_period, low=None, high=None)
    delimiters = _delimiters(flags.template_left_delimiter, flags.template_right_delimiter)
    metrics_listen = values.address("listen-metrics-addr", flags.listen_metrics_addr)
    _check_lease_names(flags)
    timings = values.lease_timings(flags)
    load_config(kube.target())  # a missing or broken kubeconfig is exit 2 before anything runs
    identity = (
        flags.leader_election_identity
        or os.environ.get("POD_NAME", "").strip()
        or socket.gethostname()
    )
    from sealbox.controllers.sync import SyncSettings

    return SyncSettings(
        lease=LeaseConfig(
            flags.leader_election_lease_name,
            flags.leader_election_namespace or own_namespace(kube),
            identity,
            **timings,
        ),
        namespaces=namespaces,
        workers=flags.workers,
        store_rate=store_rate,
        store_burst=flags.store_burst,
        total_rate=total_rate,
        total_burst=flags.provider_burst,
        restart_window=window,
        delimiters=delimiters,
        metrics_listen=metrics_listen,
        resync_seconds=resync,
    )


def _namespaces(given: list[str] | None) -> tuple[str, ...] | None:
    """``--namespace``, each name once in order; None (every namespace) when none is given."""
    if not given:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in given))
    for name in names:
        if not values.is_dns_label(name):
            raise InputError(
                f"--namespace {name!r}: not a namespace name (lowercase letters, digits and "
                "'-'; repeat the flag for more)"
            )
    return names


def _check_counts(flags: SyncFlags) -> None:
    if not 1 <= flags.workers <= MAX_WORKERS:
        raise InputError(f"--workers {flags.workers}: expected 1 to {MAX_WORKERS} (default 4)")
    for flag, burst in (
        ("store-burst", flags.store_burst),
        ("provider-burst", flags.provider_burst),
    ):
        if burst < 1:
            raise InputError(f"--{flag} {burst}: expected 1 or more (calls at once)")


def _rate(flag: str, rate: float) -> float:
    if not math.isfinite(rate) or rate < 0:
        raise InputError(
            f"--{flag} {rate:g}: expected calls per second, 0 (no limit) or more, e.g. 10 or 0.5"
        )
    return float(rate)


def _duration(flag: str, text: str, *, low: float | None, high: float | None) -> float:
    """A Go duration in seconds; ``low`` None means more than 0, ``high`` None no upper bound."""
    try:
        seconds = parse_go_duration(text.strip()) / NANOSECONDS_PER_SECOND
    except ValueError:
        seconds = -1.0
    too_low = seconds <= 0 if low is None else seconds < low
    if too_low or (high is not None and seconds > high):
        lowest = "more than 0" if low is None else f"{_go(low)}"
        span = f"of {lowest}" if high is None else f"from {lowest} to {_go(high)}"
        raise InputError(f"--{flag} {text}: expected a Go duration {span}, e.g. 30s or 5m")
    return seconds


def _go(seconds: float) -> str:
    """``seconds`` as Go prints a whole number of minutes or seconds (``10m``, ``0``)."""
    if seconds == 0:
        return "0"
    return f"{seconds / 60:g}m" if seconds % 60 == 0 else f"{seconds:g}s"


def _delimiters(left: str, right: str) -> tuple[str, str]:
    for flag, text in (("template-left-delimiter", left), ("template-right-delimiter", right)):
        if not text or any(c.isspace() for c in text):
            raise InputError(
                f"--{flag} {text!r}: expected a non-empty delimiter without spaces, e.g. << "
                "(default {{ and }})"
            )
    if left == right:
        raise InputError(
            f"--template-left-delimiter and --template-right-delimiter are both {left!r}: "
            "expected two different delimiters, e.g. << and >>"
        )
    return left, right


def _check_lease_names(flags: SyncFlags) -> None:
    name = flags.leader_election_lease_name
    if not values.is_dns_subdomain(name):
        raise InputError(
            f"--leader-election-lease-name {name!r}: expected a Kubernetes object name "
            "(lowercase letters, digits, '-' and '.', at most 240 characters)"
        )
    namespace = flags.leader_election_namespace
    if namespace is not None and not values.is_dns_label(namespace):
        raise InputError(f"--leader-election-namespace {namespace!r}: not a namespace name")
    identity = flags.leader_election_identity
    if identity is not None and not identity.strip():
        raise InputError("--leader-election-identity: expected a non-empty name")
