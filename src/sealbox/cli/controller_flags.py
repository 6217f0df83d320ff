"""``sealbox controller sealing``'s flags: upstream's names, defaults and environment variables.

Each flag is a field of :class:`SealingFlags` whose ``typer.Option`` rides in its annotation;
:data:`with_sealing_flags` spells them out on the command (as :mod:`.kube_options` does for
``--kubeconfig``), so ``--help`` lists them in this order. Every flag can also be set as upstream
allows, through ``SEALED_SECRETS_<FLAG>`` (:func:`env_name`: ``--key-renew-period`` is
``SEALED_SECRETS_KEY_RENEW_PERIOD``), so an existing Deployment's environment keeps working.
The values are raw text as the user gave them; :mod:`.controller` checks and reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sealbox.cli.option_group import option_group

__all__ = ["KeyOrderPriority", "LogLevel", "SealingFlags", "env_name", "with_sealing_flags"]

_ENV = "SEALED_SECRETS_"


class KeyOrderPriority(StrEnum):
    CertNotBefore = "CertNotBefore"
    SecretCreationTimestamp = "SecretCreationTimestamp"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def env_name(flag: str) -> str:
    """Upstream's environment name for ``--flag`` (pkg/flagenv)."""
    return _ENV + flag.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class SealingFlags:
    """The flags' values as given; each field's typer option rides in its annotation."""

    key_namespace: Annotated[
        str | None,
        typer.Option(
            "--key-namespace",
            envvar=env_name("key-namespace"),
            metavar="NS",
            help="Namespace of the sealing keys (default: the Pod's own namespace, else the "
            "kubeconfig context's, else kube-system).",
            show_default=False,
        ),
    ] = None
    key_prefix: Annotated[
        str,
        typer.Option(
            "--key-prefix", envvar=env_name("key-prefix"), help="Name prefix of key Secrets."
        ),
    ] = "sealed-secrets-key"
    key_size: Annotated[
        int,
        typer.Option(
            "--key-size", envvar=env_name("key-size"), help="RSA size of new keys, 2048 to 16384."
        ),
    ] = 4096
    key_renew_period: Annotated[
        str,
        typer.Option(
            "--key-renew-period",
            envvar=env_name("key-renew-period"),
            help="New key every period (Go duration); 0 turns renewal off.",
        ),
    ] = "720h"
    key_cutoff_time: Annotated[
        str,
        typer.Option(
            "--key-cutoff-time",
            envvar=env_name("key-cutoff-time"),
            help="At start, renew if the newest key is older than this (RFC1123Z, `date -R`).",
        ),
    ] = ""
    key_ttl: Annotated[
        str,
        typer.Option(
            "--key-ttl",
            envvar=env_name("key-ttl"),
            help="How long new certificates are valid (Go duration).",
        ),
    ] = "87600h"
    key_order_priority: Annotated[
        KeyOrderPriority,
        typer.Option(
            "--key-order-priority",
            envvar=env_name("key-order-priority"),
            help="Which key is newest: CertNotBefore or SecretCreationTimestamp.",
        ),
    ] = KeyOrderPriority.CertNotBefore
    my_cn: Annotated[
        str,
        typer.Option("--my-cn", envvar=env_name("my-cn"), help="CN of new certificates."),
    ] = ""
    privatekey_labels: Annotated[
        str,
        typer.Option(
            "--privatekey-labels",
            envvar=env_name("privatekey-labels"),
            metavar="K=V,K=V",
            help="Labels for new key Secrets (comma-separated).",
        ),
    ] = ""
    privatekey_annotations: Annotated[
        str,
        typer.Option(
            "--privatekey-annotations",
            envvar=env_name("privatekey-annotations"),
            metavar="K=V,K=V",
            help="Annotations for new key Secrets (comma-separated).",
        ),
    ] = ""
    key_wrap_config: Annotated[
        Path | None,
        typer.Option(
            "--key-wrap-config",
            envvar=env_name("key-wrap-config"),
            metavar="FILE",
            help="Keep new keys wrapped by this KMS backend (one plugin.yaml backends entry).",
        ),
    ] = None
    all_namespaces: Annotated[
        bool,
        typer.Option(
            "--all-namespaces/--no-all-namespaces",
            envvar=env_name("all-namespaces"),
            help="Unseal in every namespace (else --namespace plus --additional-namespaces).",
        ),
    ] = True
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            envvar=env_name("namespace"),
            metavar="NS",
            help="With --no-all-namespaces: the namespace to unseal in (default: the key "
            "namespace).",
            show_default=False,
        ),
    ] = None
    additional_namespaces: Annotated[
        str,
        typer.Option(
            "--additional-namespaces",
            envvar=env_name("additional-namespaces"),
            metavar="NS,NS",
            help="With --no-all-namespaces: more namespaces to unseal in (comma-separated).",
        ),
    ] = ""
    label_selector: Annotated[
        str,
        typer.Option(
            "--label-selector",
            envvar=env_name("label-selector"),
            help="Unseal only SealedSecrets with these labels (e.g. app=web,env in (prod)).",
        ),
    ] = ""
    skip_recreate: Annotated[
        bool,
        typer.Option(
            "--skip-recreate",
            envvar=env_name("skip-recreate"),
            help="Do not recreate an owned Secret that was deleted.",
        ),
    ] = False
    old_gc_behavior: Annotated[
        bool,
        typer.Option(
            "--old-gc-behavior",
            envvar=env_name("old-gc-behavior"),
            help="Delete the Secret when its SealedSecret is deleted (instead of leaving it "
            "to garbage collection).",
        ),
    ] = False
    update_status: Annotated[
        bool,
        typer.Option(
            "--update-status/--no-update-status",
            envvar=env_name("update-status"),
            help="Write the Synced condition to each SealedSecret's status.",
        ),
    ] = True
    max_unseal_retries: Annotated[
        int,
        typer.Option(
            "--max-unseal-retries",
            envvar=env_name("max-unseal-retries"),
            help="Retries of a failed unseal before waiting for the next change (0 or more).",
        ),
    ] = 5
    listen_addr: Annotated[
        str,
        typer.Option(
            "--listen-addr",
            envvar=env_name("listen-addr"),
            help="[host]:port of /v1/cert.pem, /v1/verify, /v1/rotate and /healthz.",
        ),
    ] = ":8080"
    rate_limit: Annotated[
        int,
        typer.Option(
            "--rate-limit",
            envvar=env_name("rate-limit"),
            help="/v1/verify requests per second per client (0 turns the limit off).",
        ),
    ] = 2
    rate_limit_burst: Annotated[
        int,
        typer.Option(
            "--rate-limit-burst",
            envvar=env_name("rate-limit-burst"),
            help="/v1/verify requests a client may send at once beyond the rate (0 or more).",
        ),
    ] = 2
    listen_metrics_addr: Annotated[
        str,
        typer.Option(
            "--listen-metrics-addr",
            envvar=env_name("listen-metrics-addr"),
            help="[host]:port of /metrics, /healthz and /readyz.",
        ),
    ] = ":8081"
    leader_election_lease_name: Annotated[
        str,
        typer.Option(
            "--leader-election-lease-name",
            envvar=env_name("leader-election-lease-name"),
            help="The Lease the replicas elect a leader with.",
        ),
    ] = "sealbox-sealing"
    leader_election_namespace: Annotated[
        str | None,
        typer.Option(
            "--leader-election-namespace",
            envvar=env_name("leader-election-namespace"),
            metavar="NS",
            help="Namespace of the Lease (default: the key namespace).",
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


with_sealing_flags = option_group(SealingFlags, "flags")
"""``command`` with its ``flags: SealingFlags`` parameter spelled out as the flags."""
