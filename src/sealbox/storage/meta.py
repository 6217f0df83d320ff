"""ObjectMeta as the API shows it, and back: the metadata half of every stored built-in object.

Reading turns a protobuf ``ObjectMeta`` into the dict ``kubectl get -o json`` prints: Go struct
field order, empty strings/zero numbers/empty maps left out, map keys sorted, timestamps as
RFC 3339 seconds (``2024-01-02T03:04:05Z``) and a zero ``creationTimestamp`` as ``null``.

Writing mimics the gogo marshalers kube-apiserver stores with, which differ from plain proto2:

::

    field                                emitted
    ObjectMeta 1-6 (name .. resourceVersion)   always, even ""        0a 00 12 00 1a 00 22 00 ...
    ObjectMeta 7 generation                    always, even 0         38 00
    ObjectMeta 8 creationTimestamp             always; zero time is an empty message  42 00
    Time {1 seconds, 2 nanos}                  both, nanos always 0   08 <varint> 10 00
    OwnerReference 1,3,4,5 / ManagedFields 1,2,3,6,8   always
    pointer fields (deletionTimestamp, controller, time, fieldsV1, ...)   only when set
    map entries {1 key, 2 value}               sorted by key, value always present

Upstream reads a Time's seconds only (nanos are ignored) and treats an empty Time message, or
the Go zero instant, as "no time".
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from sealbox._proto import k8s_objects_pb2

__all__ = [
    "GO_ZERO_TIME_SECONDS",
    "FieldError",
    "b64_map",
    "build_meta",
    "format_time",
    "go_json",
    "meta_to_dict",
    "normalize_meta",
    "normalize_time",
    "parse_rfc3339",
    "str_map",
    "text",
    "time_to_json",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: ``time.Time{}.Unix()`` in Go: the zero instant (0001-01-01T00:00:00Z) as Unix seconds.
GO_ZERO_TIME_SECONDS = -62135596800
_ALWAYS_META = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion")
_ALWAYS_OWNER = ("kind", "name", "uid", "apiVersion")
_ALWAYS_MANAGED = ("manager", "operation", "apiVersion", "fieldsType", "subresource")
#: Go's encoding/json escapes these even inside strings; Python's json does not.
_GO_ESCAPES = {c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"}


class FieldError(ValueError):
    """A stored field that the API could not show; says which field and why, never its content."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def text(value: object) -> str:
    """A proto2 string as text: upb returns invalid UTF-8 as bytes; Go's JSON shows U+FFFD."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def str_map(field: Mapping[str, str], path: str) -> dict[str, str]:
    """A map<string,string> as a key-sorted dict (Go's JSON sorts map keys).

    Values that are not UTF-8 come back from upb as bytes and show as U+FFFD, like :func:`text`.
    """
    try:
        items = {text(key): text(value) for key, value in field.items()}
    except UnicodeDecodeError:
        raise FieldError(path, "holds a key or value that is not UTF-8") from None
    return {key: items[key] for key in sorted(items)}


def b64_map(field: Mapping[str, bytes], path: str) -> dict[str, str]:
    """A map<string,bytes> as the API shows it: key-sorted, values in standard padded base64."""
    try:
        keys = list(field)
    except UnicodeDecodeError:
        raise FieldError(path, "holds a key that is not UTF-8") from None
    if any(isinstance(key, bytes) for key in keys):  # upb hands some invalid keys back as bytes
        raise FieldError(path, "holds a key that is not UTF-8")
    keys.sort()
    return {key: base64.b64encode(field[key]).decode("ascii") for key in keys}


def format_time(seconds: int, path: str) -> str:
    """Unix seconds as RFC 3339 in UTC, the way metav1.Time marshals to JSON."""
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise FieldError(path, "timestamp is outside years 0001..9999") from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def time_to_json(value: k8s_objects_pb2.Time, path: str) -> str | None:
    """A stored Time as the API shows it; None (JSON null) for the zero time."""
    if value.ByteSize() == 0 or value.seconds == GO_ZERO_TIME_SECONDS:
        return None
    return format_time(value.seconds, path)


def parse_rfc3339(value: str) -> int:
    """An RFC 3339 timestamp (``2024-01-02T03:04:05Z``) as whole Unix seconds, rounded down."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone (RFC 3339 needs Z or an offset)")
    return math.floor((moment - _EPOCH) / timedelta(seconds=1))


def _json_field(raw: bytes, path: str) -> Any:
    def reject(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(raw, parse_constant=reject)
    except (ValueError, RecursionError):
        raise FieldError(path, "is not valid JSON") from None


def go_json(value: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (key order kept, ``<>&`` escaped)."""
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in _GO_ESCAPES.items():
        encoded = encoded.replace(char, escape)
    return encoded.encode("utf-8")


def _owner_to_dict(ref: k8s_objects_pb2.OwnerReference) -> dict[str, Any]:
    out: dict[str, Any] = {
        "apiVersion": text(ref.apiVersion),
        "kind": text(ref.kind),
        "name": text(ref.name),
        "uid": text(ref.uid),
    }
    if ref.HasField("controller"):
        out["controller"] = ref.controller
    if ref.HasField("blockOwnerDeletion"):
        out["blockOwnerDeletion"] = ref.blockOwnerDeletion
    return out


def _managed_to_dict(entry: k8s_objects_pb2.ManagedFieldsEntry, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("manager", "operation", "apiVersion"):
        if value := text(getattr(entry, name)):
            out[name] = value
    if entry.HasField("time"):
        out["time"] = time_to_json(entry.time, f"{path}.time")
    if fields_type := text(entry.fieldsType):
        out["fieldsType"] = fields_type
    if entry.HasField("fieldsV1"):
        raw = entry.fieldsV1.Raw
        out["fieldsV1"] = _json_field(raw, f"{path}.fieldsV1") if raw else None
    if subresource := text(entry.subresource):
        out["subresource"] = subresource
    return out


def meta_to_dict(meta: k8s_objects_pb2.ObjectMeta, path: str = "metadata") -> dict[str, Any]:
    """ObjectMeta in API form and Go field order, leaving out what ``omitempty`` leaves out."""
    out: dict[str, Any] = {}
    for name in _ALWAYS_META:
        if value := text(getattr(meta, name)):
            out[name] = value
    if meta.generation:
        out["generation"] = meta.generation
    out["creationTimestamp"] = time_to_json(meta.creationTimestamp, f"{path}.creationTimestamp")
    if meta.HasField("deletionTimestamp"):
        out["deletionTimestamp"] = time_to_json(meta.deletionTimestamp, f"{path}.deletionTimestamp")
    if meta.HasField("deletionGracePeriodSeconds"):
        out["deletionGracePeriodSeconds"] = meta.deletionGracePeriodSeconds
    if labels := str_map(meta.labels, f"{path}.labels"):
        out["labels"] = labels
    if annotations := str_map(meta.annotations, f"{path}.annotations"):
        out["annotations"] = annotations
    if meta.ownerReferences:
        out["ownerReferences"] = [_owner_to_dict(ref) for ref in meta.ownerReferences]
    if meta.finalizers:
        out["finalizers"] = [text(finalizer) for finalizer in meta.finalizers]
    if meta.managedFields:
        out["managedFields"] = [
            _managed_to_dict(entry, f"{path}.managedFields[{index}]")
            for index, entry in enumerate(meta.managedFields)
        ]
    return out


def _mark_present(message: Message, names: Sequence[str]) -> None:
    for name in names:
        setattr(message, name, getattr(message, name))


def normalize_time(value: k8s_objects_pb2.Time) -> None:
    """Make a present Time serialize like Go: empty for the zero time, else seconds + nanos 0."""
    if value.ByteSize() == 0 or value.seconds == GO_ZERO_TIME_SECONDS:
        value.Clear()
    else:
        value.seconds = value.seconds
        value.nanos = 0


def normalize_meta(meta: k8s_objects_pb2.ObjectMeta) -> None:
    """Mark every non-pointer field present so proto2 emits it the way gogo does."""
    _mark_present(meta, _ALWAYS_META)
    meta.generation = meta.generation
    meta.creationTimestamp.SetInParent()
    normalize_time(meta.creationTimestamp)
    if meta.HasField("deletionTimestamp"):
        normalize_time(meta.deletionTimestamp)
    for ref in meta.ownerReferences:
        _mark_present(ref, _ALWAYS_OWNER)
    for entry in meta.managedFields:
        _mark_present(entry, _ALWAYS_MANAGED)
        if entry.HasField("time"):
            normalize_time(entry.time)


def _managed_from_dict(entry: Mapping[str, Any]) -> k8s_objects_pb2.ManagedFieldsEntry:
    message = k8s_objects_pb2.ManagedFieldsEntry()
    for name in _ALWAYS_MANAGED:
        setattr(message, name, str(entry.get(name) or ""))
    if "time" in entry:
        message.time.SetInParent()
        if entry["time"] is not None:
            message.time.seconds = parse_rfc3339(str(entry["time"]))
    if "fieldsV1" in entry:
        message.fieldsV1.Raw = go_json(entry["fieldsV1"]) if entry["fieldsV1"] is not None else b""
    return message


def build_meta(
    *,
    name: str,
    namespace: str | None,
    uid: str,
    creation_timestamp: int,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    managed_fields: Sequence[Mapping[str, Any]] | None = None,
) -> k8s_objects_pb2.ObjectMeta:
    """A freshly created object's ObjectMeta; ``managed_fields`` entries are in API (dict) form."""
    meta = k8s_objects_pb2.ObjectMeta(
        name=name,
        namespace=namespace or "",
        uid=uid,
        creationTimestamp=k8s_objects_pb2.Time(seconds=creation_timestamp),
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
        managedFields=[_managed_from_dict(entry) for entry in managed_fields or ()],
    )
    normalize_meta(meta)
    return meta
