"""Label and field selectors in lightkube's form, for every list and watch Sealbox sends.

One form everywhere (the runtime's typed lists and watches, and the metadata-only ones that
lightkube cannot send), so a selector means the same thing whichever way the objects arrive:
lightkube hands it to the apiserver itself, and :func:`selector_params` renders it the same way
(lightkube's ``build_selector``) for a request built by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lightkube.core.client import FieldValue, LabelValue
from lightkube.core.selector import build_selector

__all__ = ["FieldSelector", "LabelSelector", "lightkube_selectors", "selector_params"]

#: lightkube's label selector: ``{"app": "web"}`` (=), ``{"app": None}`` (exists), an iterable
#: (in), or an operator from :mod:`lightkube.operators` (``not_equal``, ``not_in``,
#: ``not_exists``...); the requirements are ANDed. lightkube's ``build_selector`` also takes
#: them as a list of ``(key, value)`` pairs, which can hold two requirements on one key
#: (``a!=x,a!=y``); that form is passed through as it is.
LabelSelector = Mapping[str, LabelValue] | Sequence[tuple[str, LabelValue]]
#: lightkube's field selector: ``{"metadata.name": "x"}``, ``not_equal``/``not_in`` operators.
FieldSelector = Mapping[str, FieldValue]


def lightkube_selectors(
    labels: LabelSelector | None, fields: FieldSelector | None
) -> dict[str, Any]:
    """lightkube's keyword arguments (a dict or a list of pairs; empty means no selector)."""
    label_pairs = (
        (dict(labels) if isinstance(labels, Mapping) else list(labels)) if labels else None
    )
    return {"labels": label_pairs, "fields": dict(fields) if fields else None}


def selector_params(labels: LabelSelector | None, fields: FieldSelector | None) -> dict[str, str]:
    """The ``labelSelector``/``fieldSelector`` query parameters, as lightkube would send them."""
    chosen = lightkube_selectors(labels, fields)
    params: dict[str, str] = {}
    if chosen["labels"]:
        params["labelSelector"] = build_selector(chosen["labels"])
    if chosen["fields"]:
        params["fieldSelector"] = build_selector(chosen["fields"], for_fields=True)
    return params
