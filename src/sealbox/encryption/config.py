"""Load, decode and lint an EncryptionConfiguration file the way kube-apiserver does.

The pipeline is: YAML (safe loader that also reports duplicate keys) -> strict decoding (unknown
fields, wrong types, kind/apiVersion, defaults of spec 1.2) -> the apiserver's rules V1-V23
(:mod:`sealbox.encryption.validation`) -> the frozen model of :mod:`sealbox.encryption.model`.
Every problem found is reported, not just the first, each with a field path such as
``resources[0].providers[2].aescbc.keys[1].secret``. Warnings point at choices the apiserver
accepts but that weaken encryption at rest. No message ever contains a key's secret.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from sealbox.duration import parse_go_duration
from sealbox.encryption.model import DEFAULT_KMS_CACHESIZE, EncryptionConfiguration
from sealbox.encryption.validation import (
    PROVIDER_TYPES,
    RawConfig,
    RawEntry,
    RawKey,
    RawKMS,
    RawProvider,
    advise,
    to_model,
    validate,
)
from sealbox.errors import ConfigError, ConfigIssue
from sealbox.yamldoc import load_yaml

__all__ = ["ConfigReport", "lint_config", "lint_file", "load_config", "parse_config"]

T = TypeVar("T")
_GVKS = {"EncryptionConfiguration": "apiserver.config.k8s.io/v1", "EncryptionConfig": "v1"}
_VALID_GVKS = (
    "kind: EncryptionConfiguration with apiVersion: apiserver.config.k8s.io/v1 "
    "(or the legacy kind: EncryptionConfig with apiVersion: v1)"
)
_TOP_FIELDS = ("apiVersion", "kind", "resources")
_ENTRY_FIELDS = ("resources", "providers")
_KMS_FIELDS = ("apiVersion", "name", "endpoint", "cachesize", "timeout")
_SHOWABLE_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,29}")
_INT32 = range(-(2**31), 2**31)


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """Everything found in one file: errors, warnings, and the model when there are no errors."""

    errors: tuple[ConfigIssue, ...]
    warnings: tuple[ConfigIssue, ...]
    config: EncryptionConfiguration | None

    @property
    def valid(self) -> bool:
        return not self.errors


def lint_config(text: str, source: str, *, reload: bool = False) -> ConfigReport:
    """Check ``text`` (named ``source`` in messages) and report every error and warning.

    ``reload`` mirrors ``--encryption-provider-config-automatic-reload``, which makes KMS v1
    provider names unique too (V18). Never raises for bad content: YAML errors are report errors.
    """
    document, problems = _load_document(text, source)
    if problems:
        return ConfigReport(tuple(problems), (), None)
    decoder = _Decoder()
    raw = decoder.document(document)
    errors = decoder.issues + validate(raw, reload=reload)
    warnings = advise(raw, reload=reload)
    config = None if errors else to_model(raw, source)
    return ConfigReport(tuple(errors), tuple(warnings), config)


def parse_config(text: str, source: str, *, reload: bool = False) -> EncryptionConfiguration:
    """The valid configuration in ``text``.

    Raises:
        ConfigError: the text breaks any rule; ``issues`` lists all of them.
    """
    report = lint_config(text, source, reload=reload)
    if report.config is None:
        raise ConfigError(source, report.errors)
    return report.config


def _read(path: str | os.PathLike[str]) -> str:
    source = os.fspath(path)
    try:
        return Path(source).read_bytes().decode("utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(source, [ConfigIssue("", f"cannot read the file: {reason}")]) from None
    except UnicodeDecodeError:
        raise ConfigError(source, [ConfigIssue("", "the file is not UTF-8 text")]) from None


def lint_file(path: str | os.PathLike[str], *, reload: bool = False) -> ConfigReport:
    """:func:`lint_config` on a file.

    Raises:
        ConfigError: the file cannot be read or is not UTF-8 (there is nothing to lint).
    """
    return lint_config(_read(path), os.fspath(path), reload=reload)


def load_config(path: str | os.PathLike[str], *, reload: bool = False) -> EncryptionConfiguration:
    """The valid configuration in the file at ``path``.

    Raises:
        ConfigError: the file is unreadable, empty, not YAML, or breaks any rule.
    """
    return parse_config(_read(path), os.fspath(path), reload=reload)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Describe a YAML error by line and column, without quoting the file (it may hold keys)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = f" ({exc.context})" if exc.context else ""
        return f"not valid YAML: {where}{exc.problem or 'cannot parse'}{context}"
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        return f"not valid YAML: unacceptable character #x{char:04x} at {exc.position}"
    return "not valid YAML"


def _load_document(text: str, source: str) -> tuple[object, list[ConfigIssue]]:
    empty = f'encryption provider configuration file "{source}" is empty'
    if text == "":
        return None, [ConfigIssue("", empty)]
    try:
        # PyYAML's own parser: lint messages quote its wording, and libyaml words errors otherwise
        document = load_yaml(text, fields=True, pure_python=True)
    except yaml.YAMLError as exc:
        return None, [ConfigIssue("", _yaml_problem(exc))]
    if document is None:
        return None, [ConfigIssue("", f"{empty} (it holds no YAML document)")]
    if not isinstance(document, dict):
        got = _type_name(document)
        return None, [ConfigIssue("", f"expected a mapping with {_VALID_GVKS}, got {got}")]
    return document, []


def _type_name(value: object) -> str:
    names = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"))
    for kind, name in (*names, (dict, "a mapping"), (list, "a list")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else f"a YAML {type(value).__name__}"


def _describe(value: object) -> str:
    """``is missing``, ``"x" is not supported`` or ``is an integer, not a string``."""
    if value is None or value == "":
        return "is missing"
    if isinstance(value, str):
        return f'"{value[:60]}" is not supported'
    return f"is {_type_name(value)}, not a string"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class _Decoder:
    """Strict decoding into the Raw* structures; ``issues`` collects type and field errors."""

    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []

    def _error(self, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(path, message))

    def _type_error(self, path: str, expected: str, value: object) -> None:
        self._error(path, f"expected {expected}, got {_type_name(value)}")

    def _field_label(self, path: str, key: object) -> tuple[str, str]:
        text = key if isinstance(key, str) else "null" if key is None else str(key).lower()
        if _SHOWABLE_FIELD.fullmatch(text):
            return _join(path, text), text
        return path, "(name not shown)"

    def _mapping(self, value: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        """The known fields of a mapping (None -> {}); unknown and duplicate fields are errors."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self._type_error(path, "a mapping", value)
            return None
        for key, line, first in getattr(value, "duplicates", ()):
            where, label = self._field_label(path, key)
            self._error(where, f"duplicate field {label} (line {line}, first set on line {first})")
        fields: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key in allowed:
                fields[key] = item
                continue
            where, label = self._field_label(path, key)
            valid = ", ".join(allowed) if allowed else "none (write {})"
            hint = difflib.get_close_matches(label, allowed, n=1, cutoff=0.7)
            suggestion = f"; did you mean {hint[0]}?" if hint and label != hint[0] else ""
            hidden = " (name not shown: it looks like a value)" if where == path else ""
            self._error(where, f"unknown field{hidden}; valid fields: {valid}{suggestion}")
        return fields

    def _list(self, value: object, path: str) -> list[Any] | None:
        if value is None:
            return []
        if not isinstance(value, list):
            self._type_error(path, "a list", value)
            return None
        return value

    def _string(self, value: object, path: str) -> str | None:
        """A string field: null is ``""`` (Go's zero value); other types are errors (None)."""
        if value is None:
            return ""
        if not isinstance(value, str):
            self._type_error(path, "a string", value)
            return None
        return value

    def document(self, document: object) -> RawConfig:
        fields = self._mapping(document, "", _TOP_FIELDS) or {}
        legacy = self._check_gvk(fields.get("kind"), fields.get("apiVersion"))
        raw = RawConfig(legacy_kind=legacy)
        items = self._list(fields.get("resources"), "resources")
        if items is not None:
            raw.entries = [self._entry(item, f"resources[{i}]") for i, item in enumerate(items)]
        return raw

    def _check_gvk(self, kind: object, api_version: object) -> bool:
        """Report a wrong kind/apiVersion pair; True for the legacy alias."""
        expected = _GVKS.get(kind) if isinstance(kind, str) else None
        if expected is None:
            self._error("kind", f"kind {_describe(kind)}; expected {_VALID_GVKS}")
            if api_version not in _GVKS.values():
                valid = "apiserver.config.k8s.io/v1 (or v1 with the legacy kind EncryptionConfig)"
                self._error("apiVersion", f"apiVersion {_describe(api_version)}; expected {valid}")
            return False
        if api_version != expected:
            message = f"apiVersion {_describe(api_version)} for kind {kind}; expected {expected}"
            self._error("apiVersion", message)
            return False
        return kind == "EncryptionConfig"

    def _entry(self, value: object, path: str) -> RawEntry | None:
        fields = self._mapping(value, path, _ENTRY_FIELDS)
        if fields is None:
            return None
        return RawEntry(
            path,
            resources=self._items(fields.get("resources"), f"{path}.resources", self._string),
            providers=self._items(fields.get("providers"), f"{path}.providers", self._provider),
        )

    def _items(self, value: object, path: str, read: Callable[[object, str], T]) -> list[T] | None:
        """Each item of a list field read by ``read`` at ``path[i]``; None if not a list."""
        items = self._list(value, path)
        if items is None:
            return None
        return [read(item, f"{path}[{i}]") for i, item in enumerate(items)]

    def _provider(self, value: object, path: str) -> RawProvider | None:
        fields = self._mapping(value, path, PROVIDER_TYPES)
        if fields is None:
            return None
        provider = RawProvider(path)
        for kind in PROVIDER_TYPES:
            if kind not in fields:
                continue
            item, sub = fields[kind], f"{path}.{kind}"
            if item is None:
                provider.null_types.append(kind)
                continue
            provider.types.append(kind)
            if kind == "identity":
                self._mapping(item, sub, ())
            elif kind == "kms":
                provider.kms = self._kms(item, sub)
            else:
                provider.keys[kind] = self._keys(item, sub)
        return provider

    def _keys(self, value: object, path: str) -> list[RawKey | None] | None:
        fields = self._mapping(value, path, ("keys",))
        if fields is None:
            return None
        return self._items(fields.get("keys"), f"{path}.keys", self._key)

    def _key(self, value: object, path: str) -> RawKey | None:
        fields = self._mapping(value, path, ("name", "secret"))
        if fields is None:
            return None
        name = self._string(fields.get("name"), f"{path}.name")
        return RawKey(path, name, self._string(fields.get("secret"), f"{path}.secret"))

    def _kms(self, value: object, path: str) -> RawKMS | None:
        fields = self._mapping(value, path, _KMS_FIELDS)
        if fields is None:
            return None
        kms = RawKMS(path)
        api_version = self._string(fields.get("apiVersion"), f"{path}.apiVersion")
        kms.api_version_set = api_version != ""
        kms.api_version = api_version or "v1"
        kms.name = self._string(fields.get("name"), f"{path}.name")
        kms.endpoint = self._string(fields.get("endpoint"), f"{path}.endpoint")
        kms.cachesize = self._int32(fields.get("cachesize"), f"{path}.cachesize")
        if kms.cachesize is None and kms.api_version == "v1":
            kms.cachesize = DEFAULT_KMS_CACHESIZE
        timeout = self._duration(fields.get("timeout"), f"{path}.timeout")
        if timeout is not None:
            kms.timeout_ns = timeout
        return kms

    def _int32(self, value: object, path: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self._type_error(path, "an integer", value)
            return None
        if value not in _INT32:
            self._error(path, "out of range: expected a 32-bit integer")
            return None
        return value

    def _duration(self, value: object, path: str) -> int | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self._type_error(path, 'a duration string such as "3s"', value)
            return None
        try:
            return parse_go_duration(value)
        except ValueError as exc:
            self._error(path, f"{exc}; write a Go duration such as 3s, 500ms or 1m30s")
            return None
