"""How an ExternalSecret's target Secret is written: a pure plan from the rendered content and the
Secret as it is now (or None).

:func:`plan_target` returns one :class:`TargetPlan`: ``create``/``update`` with the complete
Secret manifest to send, ``none`` when the Secret already equals it (no apiserver write for an
unchanged value), or a refusal: ``foreign`` (another owner's Secret), ``missing`` (creationPolicy
Merge and no Secret yet), ``immutable`` (an immutable Secret whose data would change).
:func:`plan_remote_gone` decides the ``deletionPolicy`` when the remote secret is gone.

The marks are ESO's (:mod:`.refresh`), so either controller recognises the other's Secrets:

- ``Owner``: label ``reconcile.external-secrets.io/managed: "true"``, label ``created-by``
  (:func:`~.refresh.owner_label`), a controller ownerReference to the ExternalSecret (the Secret
  is garbage-collected with it), annotation ``data-hash`` of the final data. The whole data is
  replaced. A Secret controlled by another object, or an unmarked Secret (no managed label, no
  ownerReference or created-by of ours), is ``foreign``: it is not adopted.
- ``Orphan``: as Owner without the ownerReference and ``created-by`` (both removed when this
  ExternalSecret had set them, so the Secret outlives it).
- ``Merge``: the Secret must exist; the rendered keys are set in its data, other keys, its
  ownerReferences and its managed label (absent or not) are left as they are; ``data-hash`` is set.
- ``None``: never written.

Metadata: others' labels and annotations on an existing Secret are kept; ours are set over them.
Ours are ``template.metadata`` (rendered), or without a template the ExternalSecret's own labels
and annotations (ESO copies them). As ESO does, labels, annotations and (Merge) data keys that
this ExternalSecret's field manager (:func:`~.refresh.field_manager`) wrote earlier and no longer
writes are removed, read from the Secret's ``managedFields``. The type is ``template.type``;
without one an existing Secret keeps its type (the apiserver refuses a type change). An update
body carries the existing ``resourceVersion`` (optimistic concurrency) and ``finalizers``, so a
replace drops nothing it should keep. An existing immutable Secret stays immutable (the apiserver
cannot undo it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sealbox.sync.model import CreationPolicy, DeletionPolicy, ExternalSecretSpec
from sealbox.sync.refresh import (
    ANNOTATION_DATA_HASH,
    LABEL_MANAGED,
    LABEL_MANAGED_VALUE,
    LABEL_OWNER,
    data_hash,
    field_manager,
    owner_label,
)
from sealbox.sync.render import DEFAULT_SECRET_TYPE, Rendered

__all__ = ["ES_API_VERSION", "TargetAction", "TargetPlan", "plan_remote_gone", "plan_target"]

ES_API_VERSION = "external-secrets.io/v1"
TargetAction = Literal["none", "create", "update", "delete", "foreign", "missing", "immutable"]


@dataclass(frozen=True, slots=True)
class TargetPlan:
    """What to do to the target Secret. ``body`` is the full Secret manifest (data as base64
    text) for ``create``/``update``, else None; it is left out of the repr (it holds values).
    ``changed_keys``: the data keys whose value differs from the existing Secret (added, removed
    or changed), for rollouts. ``message`` names objects and keys, never values."""

    action: TargetAction
    body: dict[str, Any] | None = field(default=None, repr=False)
    changed_keys: frozenset[str] = frozenset()
    message: str = ""


@dataclass(frozen=True, slots=True)
class _Owner:
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, es: Mapping[str, Any]) -> _Owner:
        metadata = _mapping(es.get("metadata"))
        return cls(
            str(metadata.get("namespace") or ""),
            str(metadata.get("name") or ""),
            str(metadata.get("uid") or ""),
        )

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": ES_API_VERSION,
            "kind": "ExternalSecret",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value).items()}


def _refs(existing: Mapping[str, Any]) -> list[dict[str, Any]]:
    refs = _mapping(existing.get("metadata")).get("ownerReferences")
    return [dict(ref) for ref in refs if isinstance(ref, Mapping)] if isinstance(refs, list) else []


def _decoded(existing: Mapping[str, Any]) -> dict[str, bytes]:
    """The existing Secret's data as bytes (a value that is not base64, never sent by the
    apiserver, counts as its text so it differs from any value we write)."""
    out: dict[str, bytes] = {}
    for key, text in _mapping(existing.get("data")).items():
        raw = str(text).encode()
        try:
            out[str(key)] = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            out[str(key)] = raw
    return out


def _managed_keys(existing: Mapping[str, Any], manager: str, *path: str) -> set[str]:
    """Keys under ``path`` (``f:data``; ``f:metadata``, ``f:labels``) that ``manager`` owns in the
    Secret's managedFields."""
    keys: set[str] = set()
    entries = _mapping(existing.get("metadata")).get("managedFields")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or entry.get("manager") != manager:
            continue
        node = _mapping(entry.get("fieldsV1"))
        for step in path:
            node = _mapping(node.get(step))
        keys.update(key[2:] for key in node if isinstance(key, str) and key.startswith("f:"))
    return keys


def _foreign(owner: _Owner, existing: Mapping[str, Any]) -> str | None:
    """Why an Owner/Orphan ExternalSecret must not take this Secret over, or None."""
    what = f"Secret {owner.namespace}/{_name(existing)}"
    for ref in _refs(existing):
        if ref.get("controller") is True and ref.get("uid") != owner.uid:
            return f"{what} is controlled by {ref.get('kind')} {ref.get('name')}"
    labels = _strings(_mapping(existing.get("metadata")).get("labels"))
    created_by = labels.get(LABEL_OWNER)
    ours = owner_label(owner.namespace, owner.name)
    if created_by is not None and created_by != ours:
        return f"{what} was created by another ExternalSecret ({LABEL_OWNER})"
    marked = (
        labels.get(LABEL_MANAGED) == LABEL_MANAGED_VALUE
        or created_by == ours
        or any(ref.get("uid") == owner.uid for ref in _refs(existing))
    )
    if not marked:
        return (
            f"{what} exists and is not managed by an ExternalSecret (no {LABEL_MANAGED} label); "
            f"it is not adopted: delete it, or use creationPolicy Merge"
        )
    return None


def _name(existing: Mapping[str, Any]) -> str:
    return str(_mapping(existing.get("metadata")).get("name") or "")


def _changed(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> frozenset[str]:
    return frozenset(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _body(
    owner: _Owner,
    name: str,
    existing: Mapping[str, Any] | None,
    *,
    data: Mapping[str, bytes],
    secret_type: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    refs: list[dict[str, Any]],
    immutable: bool,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": owner.namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    if refs:
        metadata["ownerReferences"] = refs
    old = _mapping(existing.get("metadata")) if existing is not None else {}
    for carried in ("resourceVersion", "finalizers"):
        if old.get(carried):
            metadata[carried] = old[carried]
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": secret_type,
        "data": {key: base64.b64encode(data[key]).decode("ascii") for key in sorted(data)},
    }
    if immutable:
        body["immutable"] = True
    return body


def _same(existing: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Would writing ``body`` change nothing that we write?"""
    old, new = _mapping(existing.get("metadata")), body["metadata"]
    return (
        _decoded(existing) == _decoded(body)
        and (existing.get("type") or DEFAULT_SECRET_TYPE) == body["type"]
        and bool(existing.get("immutable")) == bool(body.get("immutable"))
        and _strings(old.get("labels")) == new.get("labels", {})
        and _strings(old.get("annotations")) == new.get("annotations", {})
        and _refs(existing) == new.get("ownerReferences", [])
    )


def _metadata_ours(
    es: Mapping[str, Any], spec: ExternalSecretSpec, rendered: Rendered
) -> tuple[dict[str, str], dict[str, str]]:
    if spec.target.template is None:  # ESO copies the ExternalSecret's own metadata
        metadata = _mapping(es.get("metadata"))
        return _strings(metadata.get("labels")), _strings(metadata.get("annotations"))
    return dict(rendered.labels), dict(rendered.annotations)


def plan_target(
    es: Mapping[str, Any],
    spec: ExternalSecretSpec,
    rendered: Rendered,
    existing: Mapping[str, Any] | None,
) -> TargetPlan:
    """The write that makes the target Secret hold ``rendered`` under ``spec``'s creationPolicy
    and ``immutable`` (module text). ``es`` is the ExternalSecret object (metadata name,
    namespace, uid, labels, annotations); ``existing`` the target Secret as read, or None."""
    owner = _Owner.of(es)
    policy = spec.target.creation_policy
    what = f"Secret {owner.namespace}/{spec.target.name}"
    if policy is CreationPolicy.NONE:
        return TargetPlan("none", message="creationPolicy None: the Secret is not written")
    if existing is None and policy is CreationPolicy.MERGE:
        return TargetPlan("missing", message=f"{what} does not exist (creationPolicy Merge)")
    if existing is not None and policy is not CreationPolicy.MERGE:
        reason = _foreign(owner, existing)
        if reason is not None:
            return TargetPlan("foreign", message=reason)
    current = existing or {}
    manager = field_manager(owner.name)
    old_data = _decoded(current)
    if policy is CreationPolicy.MERGE:
        dropped = _managed_keys(current, manager, "f:data")
        data = {k: v for k, v in old_data.items() if k not in dropped} | dict(rendered.data)
    else:
        data = dict(rendered.data)
    changed = _changed(old_data, data)
    was_immutable = bool(current.get("immutable"))
    if was_immutable and changed:
        return TargetPlan(
            "immutable", message=f"{what} is immutable and its data would change: delete it"
        )
    old_meta = _mapping(current.get("metadata"))
    labels_ours, annotations_ours = _metadata_ours(es, spec, rendered)
    old_labels = _managed_keys(current, manager, "f:metadata", "f:labels")
    old_annotations = _managed_keys(current, manager, "f:metadata", "f:annotations")
    labels = {
        k: v for k, v in _strings(old_meta.get("labels")).items() if k not in old_labels
    } | labels_ours
    annotations = {
        k: v for k, v in _strings(old_meta.get("annotations")).items() if k not in old_annotations
    } | annotations_ours
    refs = _refs(current)
    if policy is not CreationPolicy.MERGE:
        labels[LABEL_MANAGED] = LABEL_MANAGED_VALUE
        mine = [i for i, ref in enumerate(refs) if ref.get("uid") == owner.uid]
        if policy is CreationPolicy.OWNER:
            labels[LABEL_OWNER] = owner_label(owner.namespace, owner.name)
            if mine:
                refs[mine[0]] = owner.reference()
                refs = [ref for i, ref in enumerate(refs) if i not in mine[1:]]
            else:
                refs.append(owner.reference())
        else:
            labels.pop(LABEL_OWNER, None)
            refs = [ref for ref in refs if ref.get("uid") != owner.uid]
    annotations[ANNOTATION_DATA_HASH] = data_hash(data)
    template = spec.target.template
    secret_type = (
        template.type
        if template is not None and template.type
        else str(current.get("type") or DEFAULT_SECRET_TYPE)
    )
    body = _body(
        owner,
        spec.target.name,
        existing,
        data=data,
        secret_type=secret_type,
        labels=labels,
        annotations=annotations,
        refs=refs,
        immutable=spec.target.immutable or was_immutable,
    )
    if existing is None:
        return TargetPlan("create", body, changed, f"create {what}")
    if _same(existing, body):
        return TargetPlan("none")
    keys = ", ".join(sorted(changed)) if changed else "none"
    return TargetPlan("update", body, changed, f"update {what} (changed keys: {keys})")


def plan_remote_gone(
    es: Mapping[str, Any], spec: ExternalSecretSpec, existing: Mapping[str, Any] | None
) -> TargetPlan:
    """What ``deletionPolicy`` does when the remote secret is gone: ``Retain`` keeps the Secret
    (``none``; the controller reports the error), ``Delete`` deletes it when it is ours (Owner or
    Orphan marks, else ``foreign``), ``Merge`` removes the keys this ExternalSecret wrote (all
    data under Owner/Orphan; under creationPolicy Merge the keys its field manager owns and those
    its spec names) and keeps the Secret."""
    owner = _Owner.of(es)
    policy = spec.target.deletion_policy
    what = f"Secret {owner.namespace}/{spec.target.name}"
    if policy is DeletionPolicy.RETAIN or existing is None:
        return TargetPlan("none", message=f"remote secret gone; {what} kept ({policy})")
    creation = spec.target.creation_policy
    if creation is not CreationPolicy.MERGE:
        reason = _foreign(owner, existing)
        if reason is not None:
            return TargetPlan("foreign", message=reason)
    old_data = _decoded(existing)
    if policy is DeletionPolicy.DELETE:
        return TargetPlan("delete", None, frozenset(old_data), f"delete {what}")
    if creation is CreationPolicy.MERGE:
        ours = _managed_keys(existing, field_manager(owner.name), "f:data")
        ours |= {item.secret_key for item in spec.data}
        if spec.target.template is not None:
            ours |= set(spec.target.template.data)
        data = {k: v for k, v in old_data.items() if k not in ours}
    else:
        data = {}
    changed = _changed(old_data, data)
    if not changed:
        return TargetPlan("none", message=f"remote secret gone; {what} holds none of its keys")
    if existing.get("immutable"):
        return TargetPlan("immutable", message=f"{what} is immutable; its keys cannot be removed")
    metadata = _mapping(existing.get("metadata"))
    annotations = _strings(metadata.get("annotations"))
    annotations[ANNOTATION_DATA_HASH] = data_hash(data)
    body = _body(
        owner,
        spec.target.name,
        existing,
        data=data,
        secret_type=str(existing.get("type") or DEFAULT_SECRET_TYPE),
        labels=_strings(metadata.get("labels")),
        annotations=annotations,
        refs=_refs(existing),
        immutable=False,
    )
    keys = ", ".join(sorted(changed))
    return TargetPlan("update", body, changed, f"remove keys {keys} from {what} (remote gone)")
