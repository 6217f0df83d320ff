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

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from lightkube import Client

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


_PARAMETER = "kube"
"""The parameter of a command that :func:`with_kube_options` replaces with the shared options."""


def _shared_parameters() -> list[inspect.Parameter]:
    types = get_type_hints(KubeOptions, include_extras=True)
    return [
        inspect.Parameter(
            item.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=item.default,
            annotation=types[item.name],
        )
        for item in fields(KubeOptions)
    ]


def with_kube_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with its ``kube: KubeOptions`` parameter spelled out as the shared options."""
    own = inspect.signature(command, eval_str=True).parameters
    if _PARAMETER not in own or own[_PARAMETER].annotation is not KubeOptions:
        raise TypeError(f"{command.__name__} has no parameter `{_PARAMETER}: KubeOptions`")
    shared = _shared_parameters()
    names = [item.name for item in shared]
    if clash := set(names) & set(own):
        raise TypeError(f"{command.__name__} declares shared kube options itself: {clash}")
    parameters: list[inspect.Parameter] = []
    for parameter in own.values():
        if parameter.name == _PARAMETER:
            parameters.extend(shared)
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(command)
    def with_options(**values: Any) -> None:
        kube = KubeOptions(**{name: values.pop(name) for name in names})
        command(**values, **{_PARAMETER: kube})

    # As with_etcd_options: typer reads __signature__; mypy knows no such attribute.
    with_options.__dict__["__signature__"] = inspect.Signature(parameters, return_annotation=None)
    with_options.__annotations__ = {item.name: item.annotation for item in parameters}
    return with_options


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
