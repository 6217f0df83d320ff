"""Everything one ExternalSecret reads from its store, through the shared reader.

Every ``data[]`` item, ``dataFrom[].extract`` and ``dataFrom[].find`` is asked of the
:class:`~sealbox.controllers.sync.remote.RemoteReader` at once (it coalesces identical reads
across all ExternalSecrets and spends the call budget); the answer is the raw values for
:func:`~sealbox.sync.render.render_target` and two times the controller schedules and measures
with: the oldest check among them (when the values were last confirmed current) and the newest
change (when the reader first saw the newest value: the start of propagation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sealbox.controllers.sync.open_store import OpenStore
from sealbox.controllers.sync.remote import Observed, ObservedMap, RemoteReader
from sealbox.sync import ExternalSecretSpec, Fetched, RemoteRefSpec
from sealbox.sync.providers import RemoteRef

__all__ = ["Gathered", "gather"]


@dataclass(frozen=True, slots=True)
class Gathered:
    """The raw values of one ExternalSecret and when they were checked and changed."""

    fetched: Fetched
    oldest_check: datetime
    newest_change: datetime


def _ref(spec: RemoteRefSpec) -> RemoteRef:
    return RemoteRef(spec.key, spec.property, spec.version)


async def gather(
    reader: RemoteReader, store: OpenStore, spec: ExternalSecretSpec, *, fresh_after: datetime
) -> Gathered:
    """Read every value ``spec`` names, reusing what was checked at or after ``fresh_after``.

    Raises:
        ProviderError: the first failure (a missing key, a refused credential...).
    """
    singles = [
        reader.value(store, _ref(item.remote_ref), fresh_after=fresh_after) for item in spec.data
    ]
    maps: list[Awaitable[ObservedMap]] = []
    for item in spec.data_from:
        if item.extract is not None:
            maps.append(reader.value_map(store, _ref(item.extract), fresh_after=fresh_after))
        elif item.find is not None:
            maps.append(
                reader.find(
                    store, item.find.path, item.find.name_regexp or "", fresh_after=fresh_after
                )
            )
    observed: list[Observed | ObservedMap] = list(await asyncio.gather(*singles, *maps))
    values = cast(list[Observed], observed[: len(singles)])
    mapped = cast(list[ObservedMap], observed[len(singles) :])
    fetched = Fetched(
        data={item.secret_key: value.value for item, value in zip(spec.data, values, strict=True)},
        data_from=tuple(entry.values for entry in mapped),
    )
    return Gathered(
        fetched,
        oldest_check=min(entry.checked_at for entry in observed),
        newest_change=max(entry.changed_at for entry in observed),
    )
