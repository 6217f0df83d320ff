"""What every command that talks to Kubernetes shares: ``--kubeconfig`` and ``--context``.

Like :mod:`sealbox.cli.etcd_options`: a command takes one keyword-only parameter
``kube: KubeOptions`` and is decorated with :func:`with_kube_options`, which spells it out as the
two flags (``--help`` lists them in its place) and hands the command one :class:`KubeOptions`.
:func:`open_kube` then opens a lightkube client on the cluster they select.

Neither flag reads an environment variable itself: without ``--kubeconfig`` the cluster is found
as kubectl finds it (``KUBECONFIG``, ``~/.kube/config``, then the Pod's service account), which
:func:`sealbox.kube.load_config` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from lightkube import Client

from sealbox.cli.option_group import option_group
from sealbox.kube import KubeTarget, sync_client

__all__ = ["KubeOptions", "open_kube", "with_kube_options"]


@dataclass(frozen=True, slots=True)
class KubeOptions:
    """The shared options' values; each field's typer option rides in its annotation."""

    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig",
            metavar="FILE",
            help="kubeconfig to use (default: KUBECONFIG, then ~/.kube/config, then the Pod's "
            "service account).",
        ),
    ] = None
    context: Annotated[
        str | None,
        typer.Option(
            "--context", metavar="NAME", help="kubeconfig context (default: its current-context)."
        ),
    ] = None

    def target(self) -> KubeTarget:
        return KubeTarget(kubeconfig=self.kubeconfig, context=self.context)


with_kube_options = option_group(KubeOptions, "kube")
"""``command`` with its ``kube: KubeOptions`` parameter spelled out as the shared options."""


@contextmanager
def open_kube(options: KubeOptions, *, timeout: float | None = None) -> Iterator[Client]:
    """A lightkube client on the cluster ``options`` select (closed on exit).

    Raises:
        KubeConfigError: no usable kubeconfig, context or service account (exit 2).
    """
    client = (
        sync_client(options.target())
        if timeout is None
        else sync_client(options.target(), timeout=timeout)
    )
    with client:
        yield client
