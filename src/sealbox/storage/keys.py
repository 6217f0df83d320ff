"""Etcd keys: which object (group, resource, namespace, name) a kube-apiserver key names.

kube-apiserver builds every key as ``path.Join("/", --etcd-prefix)`` + ``/`` + the resource's
storage prefix + ``/`` + [namespace ``/``] + name::

    /registry/secrets/default/db          built-in, namespaced  -> secrets
    /registry/roles/default/admin         built-in, grouped     -> roles.rbac.authorization.k8s.io
    /registry/namespaces/default          cluster-scoped        -> namespaces
    /registry/services/specs/default/web  historical prefix     -> services
    /registry/example.com/widgets/ns/w    <group>/<resource>    -> widgets.example.com
    /43da1478-.../registry/secrets/ns/n   custom --etcd-prefix  -> secrets

Built-in resources carry no group in the key; :mod:`sealbox.storage.resources_table` supplies it.
A first segment containing a dot is a group (custom resources, CRDs, APIServices). An undotted
resource missing from the table is taken to be in the core group. After the resource, two
segments mean ``<namespace>/<name>`` and one means a cluster-scoped ``<name>``. The key string
is also the AAD of the AEAD providers, so it must round-trip exactly:
``object_key(parse_key(k)) == k``.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass

from sealbox.errors import InputError
from sealbox.storage.resources_table import (
    BUILTIN_GROUPS,
    GROUP_OF_SPECIAL_PREFIX,
    STORAGE_PREFIX_OF,
)

__all__ = [
    "DEFAULT_PREFIX",
    "KeyResolver",
    "ObjectKey",
    "normalize_prefix",
    "object_key",
    "parse_key",
    "storage_prefix",
]

DEFAULT_PREFIX = "/registry"


@dataclass(frozen=True, slots=True)
class ObjectKey:
    """One parsed etcd key. ``prefix`` is normalized (``/registry``); ``group`` is "" for core."""

    key: str
    prefix: str
    group: str
    resource: str
    namespace: str | None
    name: str

    @property
    def group_resource(self) -> str:
        """The resource as EncryptionConfiguration names it: ``secrets``, ``deployments.apps``."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


@functools.lru_cache(maxsize=64)
def normalize_prefix(prefix: str) -> str:
    """``path.Join("/", prefix)`` as Go computes it: ``registry/`` -> ``/registry``, "" -> ``/``."""
    return "/" + posixpath.normpath("/" + prefix).lstrip("/")


def _key_head(prefix: str) -> str:
    """The literal text every key starts with (the apiserver appends ``/`` unless already there)."""
    return prefix if prefix.endswith("/") else prefix + "/"


def _expected_form(prefix: str) -> str:
    return f"{_key_head(prefix)}<resource>/[<namespace>/]<name>"


def _bad_key(key: str, prefix: str, why: str) -> InputError:
    return InputError(f"etcd key {key!r} {why}; expected {_expected_form(prefix)}")


def _key_text(key: str | bytes) -> str:
    if isinstance(key, str):
        return key
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        shown = key.decode("utf-8", errors="backslashreplace")
        raise InputError(f"etcd key {shown!r} is not UTF-8 text") from None


def _split_resource(segments: list[str]) -> tuple[str, str, list[str]] | None:
    """(group, resource, remaining segments), or None when a group has no resource after it."""
    first = segments[0]
    pair = "/".join(segments[:2])
    if len(segments) > 1 and pair in GROUP_OF_SPECIAL_PREFIX:
        group, resource = GROUP_OF_SPECIAL_PREFIX[pair]
        return group, resource, segments[2:]
    if first in GROUP_OF_SPECIAL_PREFIX:
        group, resource = GROUP_OF_SPECIAL_PREFIX[first]
        return group, resource, segments[1:]
    if "." in first:
        if len(segments) < 2:
            return None
        return first, segments[1], segments[2:]
    return BUILTIN_GROUPS.get(first, ""), first, segments[1:]


def parse_key(key: str | bytes, *, prefix: str = DEFAULT_PREFIX) -> ObjectKey:
    """Parse a full etcd key written under ``prefix``; :class:`InputError` if it is not one."""
    text = _key_text(key)
    base = normalize_prefix(prefix)
    head = _key_head(base)
    if not text.startswith(head):
        raise _bad_key(text, base, f"is outside the etcd prefix {base!r}")
    segments = text[len(head) :].split("/")
    if "" in segments or "." in segments or ".." in segments:
        raise _bad_key(text, base, "has an empty, '.' or '..' path segment")
    split = _split_resource(segments)
    if split is None:
        raise _bad_key(text, base, "names a group but no resource")
    group, resource, rest = split
    if len(rest) == 1:
        namespace, name = None, rest[0]
    elif len(rest) == 2:
        namespace, name = rest[0], rest[1]
    else:
        raise _bad_key(text, base, f"has {len(rest)} segments after the resource, not 1 or 2")
    return ObjectKey(
        key=text, prefix=base, group=group, resource=resource, namespace=namespace, name=name
    )


def storage_prefix(group: str, resource: str) -> str:
    """Where a resource is stored under the prefix: ``secrets``, ``services/specs``, ``x.io/ws``."""
    special = STORAGE_PREFIX_OF.get((group, resource))
    if special is not None:
        return special
    if not group or BUILTIN_GROUPS.get(resource) == group:
        return resource
    return f"{group}/{resource}"


def _check_segment(what: str, value: str) -> None:
    if value in ("", ".", "..") or "/" in value:
        raise InputError(
            f"{what} {value!r} cannot be an etcd key segment (empty, '.', '..' or '/')"
        )


def object_key(
    group_resource: str, namespace: str | None, name: str, *, prefix: str = DEFAULT_PREFIX
) -> str:
    """The etcd key of an object: the inverse of :func:`parse_key`.

    ``group_resource`` is written as in an EncryptionConfiguration (``secrets``,
    ``deployments.apps``, ``widgets.example.com``); ``namespace`` is None when cluster-scoped.
    """
    resource, _, group = group_resource.partition(".")
    _check_segment("resource", resource)
    if group and ("/" in group or ".." in group or group.startswith(".") or group.endswith(".")):
        raise InputError(f"API group {group!r} of {group_resource!r} is not a valid group name")
    parts = [storage_prefix(group, resource)]
    if namespace is not None:
        _check_segment("namespace", namespace)
        parts.append(namespace)
    _check_segment("name", name)
    parts.append(name)
    return _key_head(normalize_prefix(prefix)) + "/".join(parts)


class KeyResolver:
    """:func:`parse_key` for many keys under one prefix: ``(group_resource, namespace, name)``.

    Keys of one resource share everything before ``/<namespace>/<name>`` (or ``/<name>``), so
    the resource is resolved once per such head and cached; anything not seen before, or with
    an unusual segment, goes through :func:`parse_key` itself, so results never differ from it.

    Raises (from ``__call__``):
        InputError: as :func:`parse_key`.
    """

    __slots__ = ("_cluster", "_namespaced", "prefix")

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self._namespaced: dict[str, str] = {}
        self._cluster: dict[str, str] = {}

    def __call__(self, key: str) -> tuple[str, str | None, str]:
        head, _, name = key.rpartition("/")
        if name not in _ODD_SEGMENTS:
            resource = self._cluster.get(head)
            if resource is not None:
                return resource, None, name
            head2, _, namespace = head.rpartition("/")
            if namespace not in _ODD_SEGMENTS:
                resource = self._namespaced.get(head2)
                if resource is not None:
                    return resource, namespace, name
        parsed = parse_key(key, prefix=self.prefix)
        cache, resource_head = (
            (self._cluster, head)
            if parsed.namespace is None
            else (self._namespaced, head.rpartition("/")[0])
        )
        # ``services`` may go on to ``services/specs`` (a different storage prefix): a head that
        # ends in such a segment says nothing about the next key, so it is not remembered.
        if resource_head.rpartition("/")[2] not in _PAIR_STARTS:
            cache[resource_head] = parsed.group_resource
        return parsed.group_resource, parsed.namespace, parsed.name


_ODD_SEGMENTS = frozenset({"", ".", ".."})
_PAIR_STARTS = frozenset(
    prefix.partition("/")[0] for prefix in GROUP_OF_SPECIAL_PREFIX if "/" in prefix
)
