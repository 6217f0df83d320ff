"""The ExternalSecret spec (``external-secrets.io/v1``, Sealbox's subset), parsed and checked.

Specs arrive as plain dicts, as the apiserver returns them. :func:`parse_external_secret` turns
one into frozen dataclasses, or raises one :class:`SyncSpecError` that lists *every* problem with
its field path and what would be valid (``spec.data[2].remoteRef.key: required``), so a user
fixes a manifest in one round, and a bad spec becomes a status reason rather than a silently
missing Secret (ESO #3028).

Field names, defaults and forbidden combinations are ESO's (``docs/sync.md``, "API"). An ESO
field outside the subset is refused by name when it asks for behaviour Sealbox does not have;
written with ESO's default value (as ESO's own CRD fills it in), it is accepted, so objects
created under ESO's CRD keep working. Dicts are read with :class:`~sealbox.sync.fields.Fields`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sealbox.gotemplate import DEFAULT_DELIMITERS, Template, TemplateError
from sealbox.sync.fields import Fields, SyncSpecError

__all__ = [
    "DEFAULT_REFRESH_INTERVAL",
    "CreationPolicy",
    "DataFromItem",
    "DataItem",
    "DecodingStrategy",
    "DeletionPolicy",
    "ExternalSecretSpec",
    "FindSpec",
    "MergePolicy",
    "RefreshPolicy",
    "RemoteRefSpec",
    "StoreKind",
    "StoreRef",
    "TargetSpec",
    "TemplateSpec",
    "parse_external_secret",
]

DEFAULT_REFRESH_INTERVAL = timedelta(hours=1)  # ESO's default for refreshInterval

# A Secret data key, as the apiserver checks it (IsConfigMapKey).
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_BOOTSTRAP_TOKEN = "bootstrap.kubernetes.io/token"  # noqa: S105 - a Secret type ESO refuses


class RefreshPolicy(StrEnum):
    """When an ExternalSecret is fetched again (``spec.refreshPolicy``)."""

    PERIODIC = "Periodic"
    ON_CHANGE = "OnChange"
    CREATED_ONCE = "CreatedOnce"


class CreationPolicy(StrEnum):
    """Who owns the target Secret (``spec.target.creationPolicy``)."""

    OWNER = "Owner"
    ORPHAN = "Orphan"
    MERGE = "Merge"
    NONE = "None"


class DeletionPolicy(StrEnum):
    """What happens to the target when the remote secret is gone (``target.deletionPolicy``)."""

    RETAIN = "Retain"
    DELETE = "Delete"
    MERGE = "Merge"


class DecodingStrategy(StrEnum):
    """How a fetched value is decoded before it lands in the Secret (``decodingStrategy``)."""

    NONE = "None"
    BASE64 = "Base64"
    BASE64URL = "Base64URL"
    AUTO = "Auto"


class MergePolicy(StrEnum):
    """Whether template output replaces the fetched keys or is laid over them."""

    REPLACE = "Replace"
    MERGE = "Merge"


class StoreKind(StrEnum):
    """The kind a ``secretStoreRef`` names."""

    SECRET_STORE = "SecretStore"  # noqa: S105 - a kind, not a password
    CLUSTER_SECRET_STORE = "ClusterSecretStore"  # noqa: S105 - a kind, not a password


@dataclass(frozen=True, slots=True)
class StoreRef:
    """``spec.secretStoreRef``: the store to fetch from."""

    name: str
    kind: StoreKind = StoreKind.SECRET_STORE


@dataclass(frozen=True, slots=True)
class RemoteRefSpec:
    """``remoteRef`` (or ``dataFrom[].extract``): one value in the store.

    ``property`` selects a field of a JSON value, ``version`` pins a version (None: latest);
    ``decoding`` is applied to what was fetched.
    """

    key: str
    property: str | None = None
    version: str | None = None
    decoding: DecodingStrategy = DecodingStrategy.NONE


@dataclass(frozen=True, slots=True)
class DataItem:
    """``spec.data[]``: one remote value as one Secret key."""

    secret_key: str
    remote_ref: RemoteRefSpec


@dataclass(frozen=True, slots=True)
class FindSpec:
    """``dataFrom[].find``: every remote secret under ``path`` whose name matches ``name_regexp``.

    ``name_regexp`` is searched (not anchored), as Go's ``regexp.MatchString``.
    """

    path: str | None = None
    name_regexp: str | None = None
    decoding: DecodingStrategy = DecodingStrategy.NONE


@dataclass(frozen=True, slots=True)
class DataFromItem:
    """``spec.dataFrom[]``: exactly one of ``extract`` (one remote JSON object → many keys) or
    ``find`` (many remote secrets)."""

    extract: RemoteRefSpec | None = None
    find: FindSpec | None = None


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """``spec.target.template`` (engine v2): the Secret's type, extra metadata, and keys rendered
    with Go templates from the fetched values (:mod:`sealbox.gotemplate`)."""

    type: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    merge_policy: MergePolicy = MergePolicy.REPLACE
    data: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """``spec.target``: the Secret written and its policies."""

    name: str
    creation_policy: CreationPolicy = CreationPolicy.OWNER
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    immutable: bool = False
    template: TemplateSpec | None = None


@dataclass(frozen=True, slots=True)
class ExternalSecretSpec:
    """A checked ExternalSecret spec. ``refresh_interval`` zero means "fetch once"."""

    store_ref: StoreRef
    target: TargetSpec
    refresh_interval: timedelta = DEFAULT_REFRESH_INTERVAL
    refresh_policy: RefreshPolicy = RefreshPolicy.PERIODIC
    data: tuple[DataItem, ...] = ()
    data_from: tuple[DataFromItem, ...] = ()


_SPEC_FIELDS = ("secretStoreRef", "refreshInterval", "refreshPolicy", "target", "data", "dataFrom")
_TARGET_FIELDS = ("name", "creationPolicy", "deletionPolicy", "immutable", "template")
_TEMPLATE_FIELDS = ("type", "engineVersion", "metadata", "mergePolicy", "data")
_REMOTE_REF_FIELDS = (
    "key",
    "property",
    "version",
    "decodingStrategy",
    "conversionStrategy",
    "metadataPolicy",
    "nullBytePolicy",
)
_FIND_FIELDS = ("path", "name", "decodingStrategy", "conversionStrategy", "nullBytePolicy")
# Forbidden (deletionPolicy, creationPolicy) pairs, ESO's rules: Delete only deletes what it owns.
_FORBIDDEN = {
    (DeletionPolicy.DELETE, CreationPolicy.MERGE),
    (DeletionPolicy.DELETE, CreationPolicy.NONE),
    (DeletionPolicy.MERGE, CreationPolicy.NONE),
}


def _eso_defaults_only(fields: Fields, parent: Mapping[str, Any], path: str) -> None:
    """remoteRef/find fields ESO has and fills with defaults; only the defaults mean the same."""
    fields.only(parent, "conversionStrategy", path, ("Default",))
    fields.only(parent, "metadataPolicy", path, ("None",))
    fields.only(parent, "nullBytePolicy", path, ("Ignore",))


def _remote_ref(fields: Fields, ref: Mapping[str, Any], path: str) -> RemoteRefSpec:
    fields.known(ref, path, _REMOTE_REF_FIELDS)
    _eso_defaults_only(fields, ref, path)
    return RemoteRefSpec(
        key=fields.string(ref, "key", path, required=True) or "",
        property=fields.string(ref, "property", path) or None,
        version=fields.string(ref, "version", path) or None,
        decoding=fields.choice(
            ref, "decodingStrategy", path, DecodingStrategy, DecodingStrategy.NONE
        ),
    )


def _data_item(fields: Fields, item: Mapping[str, Any], path: str) -> DataItem:
    fields.known(item, path, ("secretKey", "remoteRef"))
    secret_key = fields.string(item, "secretKey", path, required=True) or ""
    if secret_key and not _SECRET_KEY.fullmatch(secret_key):
        fields.problem(f"{path}.secretKey", "must consist of letters, digits, '-', '_' or '.'")
    ref = fields.child(item, "remoteRef", path)
    if ref is None:
        if item.get("remoteRef") is None:
            fields.problem(f"{path}.remoteRef", "required")
        return DataItem(secret_key, RemoteRefSpec(""))
    return DataItem(secret_key, _remote_ref(fields, ref, f"{path}.remoteRef"))


def _find(fields: Fields, find: Mapping[str, Any], path: str) -> FindSpec:
    fields.known(find, path, _FIND_FIELDS)
    _eso_defaults_only(fields, find, path)
    name = fields.child(find, "name", path) or {}
    fields.known(name, f"{path}.name", ("regexp",))
    regexp = fields.string(name, "regexp", f"{path}.name")
    if regexp is not None:
        try:
            re.compile(regexp)
        except re.error as error:
            fields.problem(f"{path}.name.regexp", f"not a valid regular expression ({error})")
    spec = FindSpec(
        path=fields.string(find, "path", path) or None,
        name_regexp=regexp or None,
        decoding=fields.choice(
            find, "decodingStrategy", path, DecodingStrategy, DecodingStrategy.NONE
        ),
    )
    if spec.path is None and spec.name_regexp is None:
        fields.problem(path, "needs name.regexp or path (or both)")
    return spec


def _data_from_item(fields: Fields, item: Mapping[str, Any], path: str) -> DataFromItem:
    fields.known(item, path, ("extract", "find"))
    extract = fields.child(item, "extract", path)
    find = fields.child(item, "find", path)
    if (extract is None) == (find is None):
        fields.problem(path, "needs exactly one of extract or find")
    return DataFromItem(
        extract=_remote_ref(fields, extract, f"{path}.extract") if extract is not None else None,
        find=_find(fields, find, f"{path}.find") if find is not None else None,
    )


def _template(
    fields: Fields, template: Mapping[str, Any], path: str, delimiters: tuple[str, str]
) -> TemplateSpec:
    fields.known(template, path, _TEMPLATE_FIELDS)
    fields.only(template, "engineVersion", path, ("v2",))
    metadata = fields.child(template, "metadata", path) or {}
    fields.known(metadata, f"{path}.metadata", ("labels", "annotations"))
    secret_type = fields.string(template, "type", path) or None
    if secret_type == _BOOTSTRAP_TOKEN:
        fields.problem(f"{path}.type", "bootstrap.kubernetes.io/token is not allowed")
    data = fields.string_map(template, "data", path)
    for key, text in data.items():
        if not _SECRET_KEY.fullmatch(key):
            fields.problem(
                f"{path}.data.{key}", "keys must consist of letters, digits, '-', '_' or '.'"
            )
        try:  # a template that cannot parse is a spec error now, not a missing Secret later
            Template.parse(key, text, delimiters=delimiters)
        except TemplateError as error:
            fields.problem(f"{path}.data.{key}", str(error))
    return TemplateSpec(
        type=secret_type,
        labels=fields.string_map(metadata, "labels", f"{path}.metadata"),
        annotations=fields.string_map(metadata, "annotations", f"{path}.metadata"),
        merge_policy=fields.choice(template, "mergePolicy", path, MergePolicy, MergePolicy.REPLACE),
        data=data,
    )


def _target(
    fields: Fields,
    target: Mapping[str, Any],
    default_name: str,
    delimiters: tuple[str, str],
) -> TargetSpec:
    path = "spec.target"
    fields.known(target, path, _TARGET_FIELDS)
    creation = fields.choice(target, "creationPolicy", path, CreationPolicy, CreationPolicy.OWNER)
    deletion = fields.choice(target, "deletionPolicy", path, DeletionPolicy, DeletionPolicy.RETAIN)
    if (deletion, creation) in _FORBIDDEN:
        valid = ", ".join(d.value for d in DeletionPolicy if (d, creation) not in _FORBIDDEN)
        fields.problem(
            f"{path}.deletionPolicy",
            f"{deletion} cannot go with creationPolicy {creation} (with {creation}: {valid})",
        )
    template = fields.child(target, "template", path)
    return TargetSpec(
        name=fields.string(target, "name", path) or default_name,
        creation_policy=creation,
        deletion_policy=deletion,
        immutable=fields.boolean(target, "immutable", path),
        template=(
            _template(fields, template, f"{path}.template", delimiters)
            if template is not None
            else None
        ),
    )


def _store_ref(fields: Fields, spec: Mapping[str, Any]) -> StoreRef:
    path = "spec.secretStoreRef"
    ref = fields.child(spec, "secretStoreRef", "spec")
    if ref is None:
        if spec.get("secretStoreRef") is None:
            fields.problem(path, "required (name and kind of a SecretStore or ClusterSecretStore)")
        return StoreRef("")
    fields.known(ref, path, ("name", "kind"))
    return StoreRef(
        name=fields.string(ref, "name", path, required=True) or "",
        kind=fields.choice(ref, "kind", path, StoreKind, StoreKind.SECRET_STORE),
    )


def parse_external_secret(
    obj: Mapping[str, Any], *, delimiters: tuple[str, str] = DEFAULT_DELIMITERS
) -> ExternalSecretSpec:
    """The checked spec of an ExternalSecret object (``{"metadata": ..., "spec": ...}``).

    ``target.name`` defaults to ``metadata.name``. Templates are parsed with ``delimiters``
    (the controller's ``--template-left-delimiter``/``--template-right-delimiter``).

    Raises:
        SyncSpecError: naming ``ExternalSecret <namespace>/<name>`` and every problem found.
    """
    fields = Fields()
    root = fields.mapping(obj, "")
    metadata = fields.child(root, "metadata", "") or {}
    name = metadata.get("name") if isinstance(metadata.get("name"), str) else ""
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else ""
    subject = f"ExternalSecret {namespace}/{name}" if namespace else f"ExternalSecret {name}"
    spec = fields.child(root, "spec", "")
    if spec is None:
        if not fields.issues:
            fields.problem("spec", "required")
        raise SyncSpecError(subject.rstrip(), fields.issues)
    fields.known(spec, "spec", _SPEC_FIELDS)
    store_ref = _store_ref(fields, spec)
    interval = fields.duration(spec, "refreshInterval", "spec")
    policy = fields.choice(spec, "refreshPolicy", "spec", RefreshPolicy, RefreshPolicy.PERIODIC)
    target = _target(fields, fields.child(spec, "target", "spec") or {}, str(name), delimiters)
    if not target.name:
        fields.problem("spec.target.name", "required when metadata.name is not set")
    data = tuple(
        _data_item(fields, item, path) for path, item in fields.items(spec, "data", "spec")
    )
    data_from = tuple(
        _data_from_item(fields, item, path) for path, item in fields.items(spec, "dataFrom", "spec")
    )
    if not spec.get("data") and not spec.get("dataFrom"):
        fields.problem("spec", "needs data or dataFrom (at least one entry)")
    fields.raise_if_any(subject)
    return ExternalSecretSpec(
        store_ref=store_ref,
        target=target,
        refresh_interval=DEFAULT_REFRESH_INTERVAL if interval is None else interval,
        refresh_policy=policy,
        data=data,
        data_from=data_from,
    )
