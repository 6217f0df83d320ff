"""Plain JSON values from whatever a check put into a finding's ``details`` or a report section."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

from sealbox.audit.model import Location, Severity

__all__ = ["jsonable"]


def jsonable(value: Any, place: Callable[[Location], str] = str) -> Any:
    """A copy of ``value`` made only of dicts with str keys, lists, str, int, float, bool, None.

    Enums become their label (``Severity.HIGH`` -> ``"high"``), a :class:`Location` the text
    ``place`` gives it (``file:line``; the report passes one that shortens the file to its root),
    sets become sorted lists and any other object its ``str()``: a report never fails to
    serialise because a check put an unusual value into ``details``.
    """
    if isinstance(value, Location):
        return place(value)
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, Enum):
        return jsonable(value.value, place)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or Infinity
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, place) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = (jsonable(v, place) for v in value)
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [jsonable(v, place) for v in value]
    return str(value)
