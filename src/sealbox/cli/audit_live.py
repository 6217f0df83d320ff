"""``sealbox audit --kubeconfig K [--context C]``: the audit's live inputs, wired for the scan.

With ``--kubeconfig`` or ``--context`` the scan also reads the cluster they select
(:mod:`sealbox.audit.live`: RBAC, service accounts, ConfigMaps, workloads, Secrets by metadata
only); with ``--etcd-endpoints`` it also scans how the Secrets are stored in etcd
(:mod:`sealbox.audit.etcd_state`, read-only; with ``--encryption-config`` it decrypts each value
to find stale ones). Both are read when the engine asks, after every argument has been checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sealbox.cli.etcd_options import EtcdOptions, open_etcd
from sealbox.cli.kube_options import KubeOptions
from sealbox.cli.option_group import option_group
from sealbox.errors import InputError
from sealbox.kube import load_config, sync_client
from sealbox.storage import DEFAULT_PREFIX

if TYPE_CHECKING:  # the audit loads on demand, as in sealbox.cli.audit
    from lightkube.config.kubeconfig import SingleConfig

    from sealbox.audit import Finding, LoadResult, SourceInputs

__all__ = ["LiveEtcdOptions", "live_source", "with_live_etcd_options"]

_ETCD_FLAG = re.compile(r"(?<![\w-])--(endpoints|cacert|cert|key)\b")


@dataclass(frozen=True, slots=True)
class LiveEtcdOptions:
    """Where the cluster's etcd is, for the read-only scan of how Secrets are stored."""

    endpoints: Annotated[
        str | None,
        typer.Option(
            "--etcd-endpoints",
            metavar="URLS",
            help="Also scan how Secrets are stored in this etcd (comma-separated endpoints; "
            "read-only, values never kept).",
        ),
    ] = None
    cacert: Annotated[
        Path | None, typer.Option("--etcd-cacert", help="CA bundle of etcd's serving cert.")
    ] = None
    cert: Annotated[Path | None, typer.Option("--etcd-cert", help="etcd client certificate.")] = (
        None
    )
    key: Annotated[
        Path | None, typer.Option("--etcd-key", help="etcd client certificate's private key.")
    ] = None
    prefix: Annotated[str, typer.Option("--etcd-prefix", help="The apiserver's --etcd-prefix.")] = (
        DEFAULT_PREFIX
    )

    def etcd_options(self) -> EtcdOptions:
        return EtcdOptions(
            endpoints=self.endpoints or "",
            cacert=self.cacert,
            cert=self.cert,
            key=self.key,
            prefix=self.prefix,
        )


with_live_etcd_options = option_group(LiveEtcdOptions, "etcd")
"""``command`` with its ``etcd: LiveEtcdOptions`` parameter spelled out as the ``--etcd-*``
options."""


def live_source(
    kube: KubeOptions, etcd: LiveEtcdOptions, encryption_config: Path | None
) -> Callable[[], SourceInputs] | None:
    """The engine's source for the live inputs the flags ask for (None: files only).

    The flags are checked here (before any file is read); the cluster and etcd are read only
    when the engine calls the source.
    """
    live = kube.kubeconfig is not None or kube.context is not None
    if etcd.endpoints is None:
        given = [flag for flag, value in _etcd_flags(etcd) if value is not None]
        if given:
            raise InputError(
                f"{', '.join(given)}: only used with --etcd-endpoints; give the etcd endpoints "
                "too, e.g. --etcd-endpoints https://10.0.0.1:2379"
            )
        if not live:
            return None
    etcd_config = None if etcd.endpoints is None else etcd.etcd_options()
    if etcd_config is not None:
        try:
            etcd_config.config()  # a bad endpoint or pair is an error before anything is read
        except InputError as exc:
            raise InputError(_ETCD_FLAG.sub(r"--etcd-\1", str(exc))) from None

    # The kubeconfig is read now, so a bad one is an error before any file is.
    kube_config = load_config(kube.target()) if live else None

    def read() -> SourceInputs:
        from sealbox.audit import LoadResult, SourceInputs

        loaded = LoadResult()
        findings: list[Finding] = []
        sections: dict[str, Any] = {}
        if kube_config is not None:
            loaded, sections = _read_cluster(kube_config)
        if etcd_config is not None:
            found, summary = _scan_etcd(etcd_config, encryption_config)
            findings += found
            sections["etcd"] = summary
        return SourceInputs(loaded, tuple(findings), sections)

    return read


def _etcd_flags(etcd: LiveEtcdOptions) -> list[tuple[str, object]]:
    prefix = None if etcd.prefix == DEFAULT_PREFIX else etcd.prefix
    return [
        ("--etcd-cacert", etcd.cacert),
        ("--etcd-cert", etcd.cert),
        ("--etcd-key", etcd.key),
        ("--etcd-prefix", prefix),
    ]


def _read_cluster(config: SingleConfig) -> tuple[LoadResult, dict[str, Any]]:
    from sealbox.audit import read_cluster

    with sync_client(config) as client:
        read = read_cluster(client, config.context_name)
    return read.loaded, read.sections(config.context_name, config.cluster.server)


def _scan_etcd(
    options: EtcdOptions, encryption_config: Path | None
) -> tuple[list[Finding], dict[str, Any]]:
    from sealbox.audit import scan_secrets

    with open_etcd(options, encryption_config) as (client, transformers):
        return scan_secrets(client, options.prefix, transformers, endpoints=options.endpoints)
