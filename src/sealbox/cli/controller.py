"""``sealbox controller``: the Kubernetes controllers Sealbox runs in a cluster.

``sealbox controller sealing`` is the drop-in replacement for the Sealed Secrets controller. Its
flags are upstream's where upstream has one (same names, defaults and meaning), and each can be
set as upstream allows, through ``SEALED_SECRETS_<FLAG>`` (``--key-renew-period`` is
``SEALED_SECRETS_KEY_RENEW_PERIOD``), so an existing Deployment's environment keeps working.
Everything is checked before the controller starts: a bad value is one ``error:`` line naming
the flag, exit 2.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import os
import socket
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.duration import NANOSECONDS_PER_SECOND, parse_go_duration
from sealbox.errors import InputError, KubeConfigError

__all__ = ["app"]

app = typer.Typer(
    help="Run Sealbox's Kubernetes controllers (sealing: unseal SealedSecrets into Secrets).",
    no_args_is_help=True,
)

_ENV = "SEALED_SECRETS_"
_FALLBACK_NAMESPACE = "kube-system"
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KeyOrderPriority(StrEnum):
    CertNotBefore = "CertNotBefore"
    SecretCreationTimestamp = "SecretCreationTimestamp"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def _env(flag: str) -> str:
    """Upstream's environment name for ``--flag`` (pkg/flagenv)."""
    return _ENV + flag.upper().replace("-", "_")


def _duration(flag: str, text: str, *, allow_zero: bool) -> datetime.timedelta | None:
    try:
        nanos = parse_go_duration(text.strip())
    except ValueError:
        nanos = -1
    if nanos < 0 or (nanos == 0 and not allow_zero):
        lowest = "0 (off) or more" if allow_zero else "more than 0"
        raise InputError(f"--{flag} {text}: expected a duration of {lowest}, e.g. 720h or 30m")
    if nanos == 0:
        return None
    return datetime.timedelta(seconds=nanos / NANOSECONDS_PER_SECOND)


def _seconds(flag: str, text: str) -> float:
    value = _duration(flag, text, allow_zero=False)
    assert value is not None  # allow_zero=False never gives None
    return value.total_seconds()


def _cutoff(text: str) -> datetime.datetime | None:
    if not text.strip():
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(
            f"--key-cutoff-time {text}: expected RFC1123 with a numeric zone as `date -R` prints "
            "it, e.g. 'Mon, 02 Jan 2006 15:04:05 -0700'"
        )
    return moment


def _address(flag: str, text: str) -> tuple[str, int] | None:
    """``[host]:port`` as Go's net.Listen takes it (``:8080``: every interface); "" is off."""
    if not text.strip():
        return None
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"--{flag} {text}: expected [host]:port, e.g. :8080 or 127.0.0.1:8080")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - Go's ":8080" listens everywhere
    return host, int(port)


def _namespaces(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if not _is_dns_label(name):
            raise InputError(
                f"--additional-namespaces: {name!r} is not a namespace name (lowercase letters, "
                "digits and '-'; comma-separated)"
            )
    return names


def _is_dns_label(name: str) -> bool:
    return (
        0 < len(name) <= 63
        and name[0].isalnum()
        and name[-1].isalnum()
        and all(c.isdigit() or ("a" <= c <= "z") or c == "-" for c in name)
    )


def _is_dns_subdomain(name: str) -> bool:
    return 0 < len(name) <= 240 and all(_is_dns_label(part) for part in name.split("."))


def own_namespace(kube: KubeOptions, environ: dict[str, str] | None = None) -> str:
    """Where the keys live by default: the Pod's namespace (service-account file, then
    ``POD_NAMESPACE``), else the kubeconfig context's namespace, else ``kube-system``."""
    env = dict(os.environ) if environ is None else environ
    try:
        found = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        found = ""
    if found:
        return found
    if env.get("POD_NAMESPACE", "").strip():
        return env["POD_NAMESPACE"].strip()
    from sealbox.kube import load_config

    try:
        config = load_config(kube.target())
    except KubeConfigError:
        return _FALLBACK_NAMESPACE
    return config.context.namespace or _FALLBACK_NAMESPACE


@app.command(
    help="Unseal SealedSecrets (bitnami.com/v1alpha1) into Secrets, as the Sealed Secrets "
    "controller does, with its keys, endpoints, events, status and metrics. Every replica loads "
    "the sealing keys and serves /v1/cert.pem, /v1/verify and /v1/rotate; the replica holding "
    "the Lease also unseals and renews keys. Each flag can also be set as SEALED_SECRETS_<FLAG> "
    "(e.g. SEALED_SECRETS_KEY_RENEW_PERIOD=720h).\n\n"
    "Example:\n\n"
    "  sealbox controller sealing --key-namespace kube-system"
)
@with_kube_options
def sealing(
    *,
    kube: KubeOptions,
    key_namespace: Annotated[
        str | None,
        typer.Option(
            "--key-namespace",
            envvar=_env("key-namespace"),
            metavar="NS",
            help="Namespace of the sealing keys (default: the Pod's own namespace, else the "
            "kubeconfig context's, else kube-system).",
            show_default=False,
        ),
    ] = None,
    key_prefix: Annotated[
        str,
        typer.Option("--key-prefix", envvar=_env("key-prefix"), help="Name prefix of key Secrets."),
    ] = "sealed-secrets-key",
    key_size: Annotated[
        int,
        typer.Option(
            "--key-size", envvar=_env("key-size"), help="RSA size of new keys, 2048 to 16384."
        ),
    ] = 4096,
    key_renew_period: Annotated[
        str,
        typer.Option(
            "--key-renew-period",
            envvar=_env("key-renew-period"),
            help="New key every period (Go duration); 0 turns renewal off.",
        ),
    ] = "720h",
    key_cutoff_time: Annotated[
        str,
        typer.Option(
            "--key-cutoff-time",
            envvar=_env("key-cutoff-time"),
            help="At start, renew if the newest key is older than this (RFC1123Z, `date -R`).",
        ),
    ] = "",
    key_order_priority: Annotated[
        KeyOrderPriority,
        typer.Option(
            "--key-order-priority",
            envvar=_env("key-order-priority"),
            help="Which key is newest: CertNotBefore or SecretCreationTimestamp.",
        ),
    ] = KeyOrderPriority.CertNotBefore,
    my_cn: Annotated[
        str,
        typer.Option("--my-cn", envvar=_env("my-cn"), help="CN of new certificates."),
    ] = "",
    key_wrap_config: Annotated[
        Path | None,
        typer.Option(
            "--key-wrap-config",
            envvar=_env("key-wrap-config"),
            metavar="FILE",
            help="Keep new keys wrapped by this KMS backend (one plugin.yaml backends entry).",
        ),
    ] = None,
    all_namespaces: Annotated[
        bool,
        typer.Option(
            "--all-namespaces/--no-all-namespaces",
            envvar=_env("all-namespaces"),
            help="Unseal in every namespace (else --namespace plus --additional-namespaces).",
        ),
    ] = True,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            envvar=_env("namespace"),
            metavar="NS",
            help="With --no-all-namespaces: the namespace to unseal in (default: the key "
            "namespace).",
            show_default=False,
        ),
    ] = None,
    additional_namespaces: Annotated[
        str,
        typer.Option(
            "--additional-namespaces",
            envvar=_env("additional-namespaces"),
            metavar="NS,NS",
            help="With --no-all-namespaces: more namespaces to unseal in (comma-separated).",
        ),
    ] = "",
    label_selector: Annotated[
        str,
        typer.Option(
            "--label-selector",
            envvar=_env("label-selector"),
            help="Unseal only SealedSecrets with these labels (e.g. app=web,env in (prod)).",
        ),
    ] = "",
    skip_recreate: Annotated[
        bool,
        typer.Option(
            "--skip-recreate",
            envvar=_env("skip-recreate"),
            help="Do not recreate an owned Secret that was deleted.",
        ),
    ] = False,
    old_gc_behavior: Annotated[
        bool,
        typer.Option(
            "--old-gc-behavior",
            envvar=_env("old-gc-behavior"),
            help="Delete the Secret when its SealedSecret is deleted (instead of leaving it "
            "to garbage collection).",
        ),
    ] = False,
    update_status: Annotated[
        bool,
        typer.Option(
            "--update-status/--no-update-status",
            envvar=_env("update-status"),
            help="Write the Synced condition to each SealedSecret's status.",
        ),
    ] = True,
    max_unseal_retries: Annotated[
        int,
        typer.Option(
            "--max-unseal-retries",
            envvar=_env("max-unseal-retries"),
            help="Retries of a failed unseal before waiting for the next change (0 or more).",
        ),
    ] = 5,
    listen_addr: Annotated[
        str,
        typer.Option(
            "--listen-addr",
            envvar=_env("listen-addr"),
            help="[host]:port of /v1/cert.pem, /v1/verify, /v1/rotate and /healthz.",
        ),
    ] = ":8080",
    listen_metrics_addr: Annotated[
        str,
        typer.Option(
            "--listen-metrics-addr",
            envvar=_env("listen-metrics-addr"),
            help="[host]:port of /metrics, /healthz and /readyz.",
        ),
    ] = ":8081",
    leader_election_lease_name: Annotated[
        str,
        typer.Option(
            "--leader-election-lease-name",
            envvar=_env("leader-election-lease-name"),
            help="The Lease the replicas elect a leader with.",
        ),
    ] = "sealbox-sealing",
    leader_election_namespace: Annotated[
        str | None,
        typer.Option(
            "--leader-election-namespace",
            envvar=_env("leader-election-namespace"),
            metavar="NS",
            help="Namespace of the Lease (default: the key namespace).",
            show_default=False,
        ),
    ] = None,
    leader_election_identity: Annotated[
        str | None,
        typer.Option(
            "--leader-election-identity",
            envvar=_env("leader-election-identity"),
            help="This replica's name in the Lease (default: POD_NAME, else the host name).",
            show_default=False,
        ),
    ] = None,
    leader_election_lease_duration: Annotated[
        str,
        typer.Option(
            "--leader-election-lease-duration",
            envvar=_env("leader-election-lease-duration"),
            help="How long a standby waits for an unrenewed Lease.",
        ),
    ] = "15s",
    leader_election_renew_deadline: Annotated[
        str,
        typer.Option(
            "--leader-election-renew-deadline",
            envvar=_env("leader-election-renew-deadline"),
            help="How long the leader keeps acting without a renewal (below the lease).",
        ),
    ] = "10s",
    leader_election_retry_period: Annotated[
        str,
        typer.Option(
            "--leader-election-retry-period",
            envvar=_env("leader-election-retry-period"),
            help="Time between Lease attempts (below the renew deadline).",
        ),
    ] = "2s",
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", envvar=_env("log-level"), help="Log level.")
    ] = LogLevel.info,
) -> None:
    from sealbox.controllers.sealing import (
        KeyOrder,
        ReconcileOptions,
        SealingSettings,
        load_key_wrapper,
        parse_label_selector,
        run_sealing_controller,
    )
    from sealbox.kube.runtime import LeaseConfig
    from sealbox.logs import configure_logging

    if not 2048 <= key_size <= 16384:
        raise InputError(f"--key-size {key_size}: expected 2048 to 16384 (bits; 4096 default)")
    if max_unseal_retries < 0:
        raise InputError(f"--max-unseal-retries {max_unseal_retries}: expected 0 or more")
    if key_namespace is not None and not _is_dns_label(key_namespace):
        raise InputError(f"--key-namespace {key_namespace!r}: not a namespace name")
    if namespace is not None and not _is_dns_label(namespace):
        raise InputError(f"--namespace {namespace!r}: not a namespace name")
    if leader_election_namespace is not None and not _is_dns_label(leader_election_namespace):
        raise InputError(
            f"--leader-election-namespace {leader_election_namespace!r}: not a namespace name"
        )
    for flag, value in (
        ("key-prefix", key_prefix),
        ("leader-election-lease-name", leader_election_lease_name),
    ):
        if not _is_dns_subdomain(value):
            raise InputError(
                f"--{flag} {value!r}: expected a Kubernetes object name (lowercase letters, "
                "digits, '-' and '.', at most 240 characters)"
            )
    if leader_election_identity is not None and not leader_election_identity.strip():
        raise InputError("--leader-election-identity: expected a non-empty name")
    renew = _duration("key-renew-period", key_renew_period, allow_zero=True)
    cutoff = _cutoff(key_cutoff_time)
    selector = parse_label_selector(label_selector)
    extra = _namespaces(additional_namespaces)
    listen = _address("listen-addr", listen_addr)
    metrics_listen = _address("listen-metrics-addr", listen_metrics_addr)
    timings = {
        "lease_duration_seconds": _seconds(
            "leader-election-lease-duration", leader_election_lease_duration
        ),
        "renew_deadline_seconds": _seconds(
            "leader-election-renew-deadline", leader_election_renew_deadline
        ),
        "retry_period_seconds": _seconds(
            "leader-election-retry-period", leader_election_retry_period
        ),
    }
    if not (
        timings["retry_period_seconds"]
        < timings["renew_deadline_seconds"]
        < timings["lease_duration_seconds"]
    ):
        raise InputError(
            "--leader-election-retry-period < --leader-election-renew-deadline < "
            "--leader-election-lease-duration must hold (defaults 2s < 10s < 15s)"
        )
    if key_wrap_config is not None:
        load_key_wrapper(key_wrap_config).close()  # checked now: a bad file is exit 2
    from sealbox.kube import load_config

    load_config(kube.target())  # a missing or broken kubeconfig is exit 2 before anything runs
    keys_in = key_namespace or own_namespace(kube)
    identity = (
        leader_election_identity or os.environ.get("POD_NAME", "").strip() or socket.gethostname()
    )
    settings = SealingSettings(
        key_namespace=keys_in,
        lease=LeaseConfig(
            leader_election_lease_name,
            leader_election_namespace or keys_in,
            identity,
            **timings,
        ),
        key_prefix=key_prefix,
        key_size=key_size,
        key_renew_period=renew,
        key_cutoff_time=cutoff,
        key_order=KeyOrder(key_order_priority.value),
        my_cn=my_cn,
        namespaces=None if all_namespaces else (namespace or keys_in, *extra),
        skip_recreate=skip_recreate,
        listen=listen,
        metrics_listen=metrics_listen,
        key_wrap_config=key_wrap_config,
        reconcile=ReconcileOptions(
            update_status=update_status,
            max_unseal_retries=max_unseal_retries,
            old_gc_behavior=old_gc_behavior,
            label_selector=selector,
        ),
    )
    configure_logging(log_level.value)
    asyncio.run(run_sealing_controller(kube.target(), settings))
