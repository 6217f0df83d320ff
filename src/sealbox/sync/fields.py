"""Reads plain-dict specs, every problem collected with its field path, and the error listing them.

:class:`Fields` is the reader :mod:`.model` (ExternalSecret) and :mod:`.stores` (SecretStore,
ClusterSecretStore) check dicts with: each reader returns a usable value (a default when the
field is wrong) so parsing runs to the end, and :class:`SyncSpecError` reports everything at once,
so a user fixes a manifest in one round. Messages repeat at most a short value (:func:`_shown`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from sealbox.duration import NANOSECONDS_PER_SECOND, parse_go_duration
from sealbox.errors import ConfigIssue, InputError

__all__ = ["Fields", "SyncSpecError"]

_MAX_SHOWN = 40  # how much of a wrong enum or duration value a message repeats

_E = TypeVar("_E", bound=StrEnum)


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
