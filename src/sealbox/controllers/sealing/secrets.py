"""Which Secret a SealedSecret may write, and what it writes: upstream's rules (spec §2.5, §2.6).

Pure, on JSON-shaped dicts, so every rule is tested without a cluster:

* no Secret: create it, with ``immutable`` from the template (only ever at create);
* a Secret controlled by this SealedSecret (ownerReference ``controller: true`` with its uid), or
  annotated ``sealedsecrets.bitnami.com/managed: "true"``: replace ``data``, ``labels``,
  ``annotations`` and ``ownerReferences``;
* annotated ``sealedsecrets.bitnami.com/patch: "true"``: merge ``data``, labels and annotations
  (keys only in the cluster survive); ownerReferences only when also ``managed``;
* anything else is foreign: left alone, reason ``ForeignSecret``;
* ``type`` is always set; an update is sent only if something changed.

The ownerReference is a single entry (``blockOwnerDeletion`` unset), and none at all when the
template's annotations carry ``sealedsecrets.bitnami.com/skip-set-owner-references: "true"``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sealbox.controllers.sealing.resource import SEALED_SECRET_API_VERSION, SEALED_SECRET_KIND

__all__ = [
    "MANAGED_ANNOTATION",
    "PATCH_ANNOTATION",
    "SKIP_OWNER_ANNOTATION",
    "SecretWrite",
    "desired_secret",
    "foreign_message",
    "is_owned",
    "owner_reference",
    "plan_write",
]

MANAGED_ANNOTATION = "sealedsecrets.bitnami.com/managed"
PATCH_ANNOTATION = "sealedsecrets.bitnami.com/patch"
SKIP_OWNER_ANNOTATION = "sealedsecrets.bitnami.com/skip-set-owner-references"


@dataclass(frozen=True, slots=True)
class SecretWrite:
    """What to do: ``create`` or ``update`` ``body``, nothing (``unchanged``), or refuse
    (``foreign``)."""

    action: Literal["create", "update", "unchanged", "foreign"]
    body: dict[str, Any] | None = None


def _annotated(meta: Mapping[str, Any], annotation: str) -> bool:
    return (meta.get("annotations") or {}).get(annotation) == "true"


def owner_reference(sealed_meta: Mapping[str, Any]) -> dict[str, Any]:
    """The ownerReference a controlled Secret carries (spec §2.6)."""
    return {
        "apiVersion": SEALED_SECRET_API_VERSION,
        "kind": SEALED_SECRET_KIND,
        "name": sealed_meta["name"],
        "uid": sealed_meta["uid"],
        "controller": True,
    }


def controller_of(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta.get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def is_owned(meta: Mapping[str, Any]) -> bool:
    """A Secret the controller recreates when it is deleted: controlled by the same-named
    SealedSecret, or annotated ``managed``."""
    ref = controller_of(meta)
    if (
        ref is not None
        and ref.get("kind") == SEALED_SECRET_KIND
        and ref.get("apiVersion") == SEALED_SECRET_API_VERSION
        and ref.get("name") == meta.get("name")
    ):
        return True
    return _annotated(meta, MANAGED_ANNOTATION)


def desired_secret(unsealed: Mapping[str, Any], sealed_meta: Mapping[str, Any]) -> dict[str, Any]:
    """The unsealed Secret manifest with its ownerReference set (unless the template skips it)."""
    secret = copy.deepcopy(dict(unsealed))
    meta = secret.setdefault("metadata", {})
    if not _annotated(meta, SKIP_OWNER_ANNOTATION):
        meta["ownerReferences"] = [owner_reference(sealed_meta)]
    else:
        meta.pop("ownerReferences", None)
    return secret


def foreign_message(name: str) -> str:
    """Upstream's words for a Secret it may not touch."""
    return f'Resource "{name}" already exists and is not managed by SealedSecret'


def plan_write(
    existing: Mapping[str, Any] | None, desired: Mapping[str, Any], *, owner_uid: str
) -> SecretWrite:
    """Decide the write that makes ``existing`` (None: absent) what ``desired`` says."""
    if existing is None:
        return SecretWrite("create", copy.deepcopy(dict(desired)))
    meta: Mapping[str, Any] = existing.get("metadata") or {}
    controller = controller_of(meta)
    controlled = controller is not None and controller.get("uid") == owner_uid
    managed = _annotated(meta, MANAGED_ANNOTATION)
    patch = _annotated(meta, PATCH_ANNOTATION)
    if not (controlled or managed or patch):
        return SecretWrite("foreign")
    want_meta: Mapping[str, Any] = desired.get("metadata") or {}
    updated = copy.deepcopy(dict(existing))
    new_meta = updated.setdefault("metadata", {})
    if patch:
        for field in ("labels", "annotations"):
            merged = {**(new_meta.get(field) or {}), **(want_meta.get(field) or {})}
            _set_or_drop(new_meta, field, merged)
        _set_or_drop(
            updated, "data", {**(updated.get("data") or {}), **(desired.get("data") or {})}
        )
        if managed:
            _set_or_drop(new_meta, "ownerReferences", want_meta.get("ownerReferences"))
    else:
        _set_or_drop(updated, "data", desired.get("data"))
        for field in ("labels", "annotations", "ownerReferences"):
            _set_or_drop(new_meta, field, want_meta.get(field))
    _set_or_drop(updated, "type", desired.get("type") or "Opaque")
    if _normal(updated) == _normal(existing):
        return SecretWrite("unchanged")
    return SecretWrite("update", updated)


def _set_or_drop(target: dict[str, Any], field: str, value: Any) -> None:
    if value:
        target[field] = copy.deepcopy(value)
    else:
        target.pop(field, None)


def _normal(secret: Mapping[str, Any]) -> dict[str, Any]:
    """``secret`` with empty maps and lists dropped, so ``{}`` and absent compare equal (as Go's
    semantic equality treats a nil and an empty map)."""
    meta = {k: v for k, v in (secret.get("metadata") or {}).items() if v not in (None, {}, [])}
    out = {k: v for k, v in secret.items() if v not in (None, {}, [])}
    out["metadata"] = meta
    return out
