"""The ExternalSecret spec (``external-secrets.io/v1``, Sealbox's subset), parsed and checked.

Specs arrive as plain dicts, as the apiserver returns them. :func:`parse_external_secret` turns
one into frozen dataclasses, or raises one :class:`SyncSpecError` that lists *every* problem with
its field path and what would be valid (``spec.data[2].remoteRef.key: required``), so a user
fixes a manifest in one round, and a bad spec becomes a status reason rather than a silently
missing Secret (ESO #3028).

Field names, defaults and forbidden combinations are ESO's (``docs/sync.md``, "API"). An ESO
field outside the subset is refused by name when it asks for behaviour Sealbox does not have;
written with ESO's default value (as ESO's own CRD fills it in), it is accepted, so objects
created under ESO's CRD keep working. :class:`Fields` is the reader both this module and
:mod:`.stores` check dicts with.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from sealbox.duration import NANOSECONDS_PER_SECOND, parse_go_duration
from sealbox.errors import ConfigIssue, InputError
from sealbox.gotemplate import DEFAULT_DELIMITERS, Template, TemplateError

__all__ = [
    "DEFAULT_REFRESH_INTERVAL",
    "CreationPolicy",
    "DataFromItem",
    "DataItem",
    "DecodingStrategy",
    "DeletionPolicy",
    "ExternalSecretSpec",
    "Fields",
    "FindSpec",
    "MergePolicy",
    "RefreshPolicy",
    "RemoteRefSpec",
    "StoreKind",
    "StoreRef",
    "SyncSpecError",
    "TargetSpec",
    "TemplateSpec",
    "parse_external_secret",
]

DEFAULT_REFRESH_INTERVAL = timedelta(hours=1)  # ESO's default for refreshInterval

# A Secret data key, as the apiserver checks it (IsConfigMapKey).
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_BOOTSTRAP_TOKEN = "bootstrap.kubernetes.io/token"  # noqa: S105 - a Secret type ESO refuses
_MAX_SHOWN = 40  # how much of a wrong enum or duration value a message repeats

_E = TypeVar("_E", bound=StrEnum)


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


class SyncSpecError(InputError):
    """An ExternalSecret, SecretStore or ClusterSecretStore spec Sealbox cannot sync from.

    ``issues`` lists every problem found (field path, what would be valid). One issue reads as one
    line, ``ExternalSecret shop/db: spec.data[2].remoteRef.key: required``; several as a count
    followed by one indented line each. Spec values are never secret, but messages repeat at most
    a short enum or duration value, or a template's parse error (its position and the offending
    token, as Go reports it), never a whole template.
    """

    def __init__(self, subject: str, issues: Sequence[ConfigIssue]) -> None:
        self.subject = subject
        self.issues = tuple(issues)
        if len(self.issues) == 1:
            super().__init__(f"{subject}: {self.issues[0]}")
            return
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{subject}: {len(self.issues)} errors\n{lines}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number"}
    return names.get(type(value), type(value).__name__)


class Fields:
    """Reads a plain-dict spec, collecting every problem instead of stopping at the first.

    Each reader takes the parent mapping, the key and the parent's path, and returns a usable
    value (a default when the field is wrong), so parsing runs to the end and :meth:`raise_if_any`
    reports everything at once.
    """

    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []

    def problem(self, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(path, message))

    def raise_if_any(self, subject: str) -> None:
        if self.issues:
            raise SyncSpecError(subject, self.issues)

    def mapping(self, value: object, path: str) -> Mapping[str, Any]:
        """``value`` as a mapping with string keys; ``{}`` (and an issue) when it is not one."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping, not {_type_name(value)}")
            return {}
        if not all(isinstance(k, str) for k in value):
            self.problem(path, "must be a mapping with string keys")
            return {}
        return value

    def known(self, parent: Mapping[str, Any], path: str, allowed: Collection[str]) -> None:
        """An issue for each field of ``parent`` that is not in ``allowed``."""
        for key in parent:
            if key not in allowed:
                choices = ", ".join(sorted(allowed)) or "none"
                self.problem(_join(path, key), f"not supported (supported here: {choices})")

    def child(self, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
        """The mapping at ``parent[key]``, or None when the field is absent or wrong."""
        raw = parent.get(key)
        if raw is None:
            return None
        before = len(self.issues)
        value = self.mapping(raw, _join(path, key))
        return value if len(self.issues) == before else None

    def string(
        self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = False
    ) -> str | None:
        """A string field; ``required`` also refuses the empty string."""
        value = parent.get(key)
        where = _join(path, key)
        if value is None:
            if required:
                self.problem(where, "required")
            return None
        if not isinstance(value, str):
            self.problem(where, f"must be a string, not {_type_name(value)}")
            return None
        if required and not value:
            self.problem(where, "required (must not be empty)")
            return None
        return value

    def boolean(self, parent: Mapping[str, Any], key: str, path: str) -> bool:
        value = parent.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(_join(path, key), f"must be true or false, not {_type_name(value)}")
            return False
        return value

    def choice(
        self, parent: Mapping[str, Any], key: str, path: str, enum: type[_E], default: _E
    ) -> _E:
        """One of ``enum``'s values; ``default`` when absent."""
        value = parent.get(key)
        if value is None:
            return default
        for member in enum:
            if value == member.value:
                return member
        choices = ", ".join(member.value for member in enum)
        self.problem(_join(path, key), f"must be one of {choices}, not {_shown(value)}")
        return default

    def only(
        self, parent: Mapping[str, Any], key: str, path: str, allowed: Collection[str]
    ) -> None:
        """An ESO field Sealbox accepts only with the listed value(s) (ESO's default)."""
        value = parent.get(key)
        if value is not None and value not in allowed:
            choices = " or ".join(sorted(allowed))
            self.problem(
                _join(path, key), f"only {choices} is supported by Sealbox, not {_shown(value)}"
            )

    def string_map(self, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, str]:
        """A ``{string: string}`` field (labels, annotations, template data)."""
        value = parent.get(key)
        if value is None:
            return MappingProxyType({})
        where = _join(path, key)
        if not isinstance(value, Mapping):
            self.problem(where, f"must be a mapping of strings, not {_type_name(value)}")
            return MappingProxyType({})
        result: dict[str, str] = {}
        for name, item in value.items():
            if not isinstance(name, str) or not isinstance(item, str):
                self.problem(_join(where, str(name)), "must be a string")
                continue
            result[name] = item
        return MappingProxyType(result)

    def strings(self, parent: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = parent.get(key)
        if value is None:
            return ()
        where = _join(path, key)
        if not isinstance(value, list):
            self.problem(where, f"must be a list of strings, not {_type_name(value)}")
            return ()
        result = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                result.append(item)
            else:
                self.problem(f"{where}[{index}]", f"must be a string, not {_type_name(item)}")
        return tuple(result)

    def items(
        self, parent: Mapping[str, Any], key: str, path: str
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The mappings of a list field, each with its path (``spec.data[2]``)."""
        value = parent.get(key)
        if value is None:
            return []
        where = _join(path, key)
        if not isinstance(value, list):
            self.problem(where, f"must be a list, not {_type_name(value)}")
            return []
        result = []
        for index, item in enumerate(value):
            item_path = f"{where}[{index}]"
            before = len(self.issues)
            mapping = self.mapping(item, item_path)
            if len(self.issues) == before and item is not None:
                result.append((item_path, mapping))
            elif item is None:
                self.problem(item_path, "must be a mapping, not null")
        return result

    def duration(
        self, parent: Mapping[str, Any], key: str, path: str, *, seconds_allowed: bool = False
    ) -> timedelta | None:
        """A Go duration string (``1h``, ``30m``, ``0``) of at least zero; with
        ``seconds_allowed`` also a whole number of seconds (as a SecretStore's refreshInterval)."""
        value = parent.get(key)
        if value is None:
            return None
        where = _join(path, key)
        if seconds_allowed and isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                self.problem(where, "must be at least 0")
                return None
            return timedelta(seconds=value)
        valid = 'a Go duration such as "1h", "15m", "1h30m" or "0"'
        if not isinstance(value, str):
            self.problem(where, f"must be {valid}, not {_type_name(value)}")
            return None
        try:
            nanoseconds = parse_go_duration(value)
        except ValueError:
            self.problem(where, f"must be {valid}, not {_shown(value)}")
            return None
        if nanoseconds < 0:
            self.problem(where, f"must be at least 0, not {_shown(value)}")
            return None
        return timedelta(microseconds=nanoseconds // (NANOSECONDS_PER_SECOND // 1_000_000))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


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
