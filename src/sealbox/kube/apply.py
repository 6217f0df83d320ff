"""Server-side apply as Sealbox's field manager, with the choice to force made by the caller.

Server-side apply lets the apiserver merge what Sealbox owns with what others own, and reports a
409 when another manager holds a field Sealbox sets. ``force`` has no default: taking fields over
from a person's ``kubectl apply`` is a decision each call site makes (a controller that owns the
object forces; a one-off command usually should not).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from lightkube import AsyncClient, Client
from lightkube.core.resource import Resource

from sealbox.kube.client import FIELD_MANAGER
from sealbox.kube.errors import kube_errors

__all__ = ["apply", "apply_async"]

R = TypeVar("R", bound=Resource)


def apply(client: Client, obj: R, *, force: bool, dry_run: bool = False) -> R:
    """Apply ``obj`` (name and, if namespaced, namespace in its metadata) as ``sealbox``.

    Raises:
        KubeConflict: another field manager owns a field ``obj`` sets (and ``force`` is off).
        KubeError: any other refusal, typed (see :mod:`sealbox.kube.errors`).
    """
    with kube_errors():
        applied = client.apply(
            cast(Any, obj), field_manager=FIELD_MANAGER, force=force, dry_run=dry_run
        )
    return cast(R, applied)


async def apply_async(client: AsyncClient, obj: R, *, force: bool, dry_run: bool = False) -> R:
    """:func:`apply` for the async client."""
    with kube_errors():
        applied = await client.apply(
            cast(Any, obj), field_manager=FIELD_MANAGER, force=force, dry_run=dry_run
        )
    return cast(R, applied)
