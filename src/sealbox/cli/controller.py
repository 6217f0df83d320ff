"""``sealbox controller``: the Kubernetes controllers Sealbox runs in a cluster.

``sealbox controller sync`` syncs ExternalSecrets (External Secrets Operator's API) from external
stores into Secrets; its flags and their checks are in :mod:`.controller_sync`.

``sealbox controller sealing`` is the drop-in replacement for the Sealed Secrets controller. Its
flags are upstream's where upstream has one (same names, defaults and meaning; declared in
:mod:`.controller_flags`), and each can be set as upstream allows, through
``SEALED_SECRETS_<FLAG>`` (``--key-renew-period`` is ``SEALED_SECRETS_KEY_RENEW_PERIOD``), so an
existing Deployment's environment keeps working. Everything is checked before the controller
starts (:func:`sealing_settings`, with the readers of :mod:`.controller_values`): a bad value is
one ``error:`` line naming the flag, exit 2.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import TYPE_CHECKING

import typer

from sealbox.cli import controller_values as values
from sealbox.cli.controller_flags import SealingFlags, with_sealing_flags
from sealbox.cli.controller_namespace import own_namespace
from sealbox.cli.controller_sync import SYNC_HELP, sync
from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.errors import InputError

if TYPE_CHECKING:
    from sealbox.controllers.sealing import SealingSettings

__all__ = ["app", "sealing_settings"]

app = typer.Typer(
    help="Run Sealbox's Kubernetes controllers (sealing: unseal SealedSecrets into Secrets; "
    "sync: sync ExternalSecrets from external stores into Secrets).",
    no_args_is_help=True,
)
app.command("sync", help=SYNC_HELP)(sync)


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
@with_sealing_flags
def sealing(*, kube: KubeOptions, flags: SealingFlags) -> None:
    from sealbox.controllers.sealing import run_sealing_controller
    from sealbox.logs import configure_logging

    settings = sealing_settings(flags, kube)
    configure_logging(flags.log_level.value)
    asyncio.run(run_sealing_controller(kube.target(), settings))


def sealing_settings(flags: SealingFlags, kube: KubeOptions) -> SealingSettings:
    """What the controller runs with, once every flag is checked (and the kubeconfig loads).

    Raises:
        InputError: a flag's value (named), the key-wrap file or the kubeconfig.
    """
    from sealbox.controllers.sealing import (
        KeyOrder,
        ReconcileOptions,
        SealingSettings,
        load_key_wrapper,
        parse_label_selector,
    )
    from sealbox.kube import load_config
    from sealbox.kube.runtime import LeaseConfig

    _check_numbers_and_names(flags)
    renew = values.duration("key-renew-period", flags.key_renew_period, allow_zero=True)
    cutoff = values.cutoff(flags.key_cutoff_time)
    validity = values.duration("key-ttl", flags.key_ttl, allow_zero=False)
    assert validity is not None  # allow_zero=False never gives None
    key_labels = values.key_metadata(
        "privatekey-labels", flags.privatekey_labels, label_values=True
    )
    key_annotations = values.key_metadata(
        "privatekey-annotations", flags.privatekey_annotations, label_values=False
    )
    selector = parse_label_selector(flags.label_selector)
    extra = values.namespaces(flags.additional_namespaces)
    listen = values.address("listen-addr", flags.listen_addr)
    metrics_listen = values.address("listen-metrics-addr", flags.listen_metrics_addr)
    timings = values.lease_timings(flags)
    if flags.key_wrap_config is not None:
        load_key_wrapper(flags.key_wrap_config).close()  # checked now: a bad file is exit 2
    load_config(kube.target())  # a missing or broken kubeconfig is exit 2 before anything runs
    keys_in = flags.key_namespace or own_namespace(kube)
    identity = (
        flags.leader_election_identity
        or os.environ.get("POD_NAME", "").strip()
        or socket.gethostname()
    )
    return SealingSettings(
        key_namespace=keys_in,
        lease=LeaseConfig(
            flags.leader_election_lease_name,
            flags.leader_election_namespace or keys_in,
            identity,
            **timings,
        ),
        key_prefix=flags.key_prefix,
        key_size=flags.key_size,
        key_renew_period=renew,
        key_cutoff_time=cutoff,
        key_order=KeyOrder(flags.key_order_priority.value),
        my_cn=flags.my_cn,
        key_validity=validity,
        key_labels=key_labels,
        key_annotations=key_annotations,
        namespaces=None if flags.all_namespaces else (flags.namespace or keys_in, *extra),
        skip_recreate=flags.skip_recreate,
        listen=listen,
        metrics_listen=metrics_listen,
        key_wrap_config=flags.key_wrap_config,
        rate_limit=flags.rate_limit,
        rate_limit_burst=flags.rate_limit_burst,
        reconcile=ReconcileOptions(
            update_status=flags.update_status,
            max_unseal_retries=flags.max_unseal_retries,
            old_gc_behavior=flags.old_gc_behavior,
            label_selector=selector,
        ),
    )


def _check_numbers_and_names(flags: SealingFlags) -> None:
    if not 2048 <= flags.key_size <= 16384:
        raise InputError(
            f"--key-size {flags.key_size}: expected 2048 to 16384 (bits; 4096 default)"
        )
    for flag, number in (
        ("max-unseal-retries", flags.max_unseal_retries),
        ("rate-limit", flags.rate_limit),
        ("rate-limit-burst", flags.rate_limit_burst),
    ):
        if number < 0:
            raise InputError(f"--{flag} {number}: expected 0 or more")
    for flag, name in (
        ("key-namespace", flags.key_namespace),
        ("namespace", flags.namespace),
        ("leader-election-namespace", flags.leader_election_namespace),
    ):
        if name is not None and not values.is_dns_label(name):
            raise InputError(f"--{flag} {name!r}: not a namespace name")
    for flag, name in (
        ("key-prefix", flags.key_prefix),
        ("leader-election-lease-name", flags.leader_election_lease_name),
    ):
        if not values.is_dns_subdomain(name):
            raise InputError(
                f"--{flag} {name!r}: expected a Kubernetes object name (lowercase letters, "
                "digits, '-' and '.', at most 240 characters)"
            )
    identity = flags.leader_election_identity
    if identity is not None and not identity.strip():
        raise InputError("--leader-election-identity: expected a non-empty name")
