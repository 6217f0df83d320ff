"""``plugin.yaml``: everything ``sealbox kms serve`` needs, validated before anything starts.

::

    apiVersion: sealbox.io/v1alpha1
    kind: KMSPluginConfiguration
    socket: /var/run/sealbox/kms.sock      # or @name for an abstract socket
    socketMode: "0600"                      # octal; socketGroup: <group name or gid> to share it
    healthProbeInterval: 30s                # cached backend round trip behind Status
    statusOnFailure: error                  # error | healthz (see docs/kms-plugin.md)
    metricsAddress: 127.0.0.1:9464          # optional: /metrics /healthz /livez /readyz
    v1beta1: false                          # also serve the deprecated KMS v1 API
    backends:
      primary: {type: local, keyFile: kek.key}
      decryptOnly:
      - {type: vault, address: https://vault:8200, keyName: k8s, auth: {...}}

Every error names its field and line (``plugin.yaml:14: backends.decryptOnly[0].keyName:
required: add this field``) and says what would be valid. Relative paths resolve against the
config file's directory.

``sealbox kms serve`` flags go through the same validation (:func:`config_from_flags`): without
``--config`` they describe a local-key plugin; with it, ``--socket``, ``--metrics-address``,
``--probe-interval`` and ``--v1beta1`` override the file's fields (a flag wins over the file,
the file over the defaults), and errors in them name the flag.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from sealbox.duration import duration_check, parse_go_duration
from sealbox.errors import ConfigError, ConfigIssue, InputError
from sealbox.kms import check_socket_path
from sealbox.kms.backends import (
    BACKEND_TYPES,
    ConfiguredBackend,
    backend_type,
    validation_issues,
)
from sealbox.yamldoc import error_line, line_at, load_yaml

__all__ = [
    "DEFAULT_PROBE_INTERVAL_SECONDS",
    "PluginConfig",
    "ServeFlags",
    "config_from_flags",
    "load_plugin_config",
    "parse_plugin_config",
]

API_VERSION = "sealbox.io/v1alpha1"
KIND = "KMSPluginConfiguration"
DEFAULT_PROBE_INTERVAL_SECONDS = 30.0


def _gid_as_text(value: object) -> object:
    """``socketGroup: 10001`` (a YAML int) is a gid, as ``"10001"`` is."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _text(expected: str) -> Callable[[object], object]:
    """A before-validator: a number where text is due is a unit left out (``30`` for ``30s``)."""

    def check(value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"{expected}; {value!r} has no unit")
        return value

    return check


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    api_version: Literal["sealbox.io/v1alpha1"]
    kind: Literal["KMSPluginConfiguration"]
    socket: str
    socket_mode: str = "0600"
    # a group name, or a numeric gid (in a container the host's group names are unknown)
    socket_group: Annotated[str | None, BeforeValidator(_gid_as_text)] = None
    health_probe_interval: Annotated[
        str,
        BeforeValidator(_text("a duration with a unit, e.g. 30s")),
        AfterValidator(duration_check(low="50ms", high="1h", example="30s")),
    ] = "30s"
    status_on_failure: Literal["error", "healthz"] = "error"
    metrics_address: str | None = None
    v1beta1: bool = False
    backends: _Backends

    @field_validator("socket")
    @classmethod
    def _socket(cls, value: str) -> str:
        return check_socket_path(value)

    @field_validator("socket_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        try:
            mode = int(value, 8)
        except ValueError:
            raise ValueError('expected an octal mode such as "0600" or "0660"') from None
        if mode & ~0o660:
            raise ValueError('only owner and group read/write are allowed: "0600" or "0660"')
        return value

    @field_validator("metrics_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError(f"expected host:port, e.g. 127.0.0.1:9464; got {value[:120]!r}")
        return value


class _Backends(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    primary: dict[str, Any]
    decrypt_only: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PluginConfig:
    """A validated plugin configuration; each backend entry is validated by its own ``Config``."""

    socket: str
    primary: ConfiguredBackend
    decrypt_only: tuple[ConfiguredBackend, ...] = ()
    socket_mode: int = 0o600
    socket_group: str | None = None
    probe_interval_seconds: float = DEFAULT_PROBE_INTERVAL_SECONDS
    status_on_failure: Literal["error", "healthz"] = "error"
    metrics_address: str | None = None
    serve_v1beta1: bool = False
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def metrics_host_port(self) -> tuple[str, int] | None:
        if self.metrics_address is None:
            return None
        host, _, port = self.metrics_address.rpartition(":")
        return host.strip("[]"), int(port)


def _backend(
    entry: Mapping[str, Any], path: str
) -> tuple[ConfiguredBackend | None, list[ConfigIssue]]:
    kind = entry.get("type")
    if kind not in BACKEND_TYPES:
        valid = ", ".join(BACKEND_TYPES)
        return None, [ConfigIssue(f"{path}.type", f"got {kind!r}; expected one of: {valid}")]
    backend = backend_type(str(kind))
    try:
        return backend.configure(entry), []
    except ValidationError as exc:
        return None, validation_issues(exc, path, model=backend.config)


def _validate(raw: Mapping[str, Any], *, base_dir: Path) -> PluginConfig:
    """The config ``raw`` describes.

    Raises:
        _Invalid: every issue found, each with its field path.
    """
    try:
        document = _Document.model_validate(dict(raw))
    except ValidationError as exc:
        raise _Invalid(validation_issues(exc, model=_Document)) from None
    primary, issues = _backend(document.backends.primary, "backends.primary")
    decrypt_only: list[ConfiguredBackend] = []
    for index, entry in enumerate(document.backends.decrypt_only):
        model, more = _backend(entry, f"backends.decryptOnly[{index}]")
        issues += more
        if model is not None:
            decrypt_only.append(model)
    if issues or primary is None:
        raise _Invalid(issues)
    return PluginConfig(
        socket=document.socket,
        primary=primary,
        decrypt_only=tuple(decrypt_only),
        socket_mode=int(document.socket_mode, 8),
        socket_group=document.socket_group,
        probe_interval_seconds=parse_go_duration(document.health_probe_interval) / 1e9,
        status_on_failure=document.status_on_failure,
        metrics_address=document.metrics_address,
        serve_v1beta1=document.v1beta1,
        base_dir=base_dir,
    )


class _Invalid(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__(f"{len(issues)} issues")
        self.issues = issues


def _read_document(text: str, source: str) -> dict[str, Any]:
    """The YAML mapping in ``text``, with positions (see :mod:`sealbox.yamldoc`).

    Raises:
        ConfigError: not YAML (``file:line:column``), or not a mapping.
    """
    try:
        raw = load_yaml(text, fields=True)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{error_line(exc)}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or "malformed"
        raise ConfigError(where, [ConfigIssue("", f"not valid YAML: {problem}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            source, [ConfigIssue("", "expected a mapping (a KMSPluginConfiguration)")]
        )
    return raw


def _positioned(issues: list[ConfigIssue], document: object) -> list[ConfigIssue]:
    return [ConfigIssue(i.path, i.message, line_at(document, i.path)) for i in issues]


def parse_plugin_config(text: str, source: str, *, base_dir: Path) -> PluginConfig:
    """Validate a plugin.yaml document.

    Raises:
        ConfigError: every problem found, each with its field path and line.
    """
    document = _read_document(text, source)
    try:
        return _validate(document, base_dir=base_dir)
    except _Invalid as exc:
        raise ConfigError(source, _positioned(exc.issues, document)) from None


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [ConfigIssue("", "no such file")]) from None
    except IsADirectoryError:
        issue = ConfigIssue("", "is a directory; expected a plugin.yaml file")
        raise ConfigError(str(path), [issue]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(str(path), [ConfigIssue("", f"cannot read ({reason})")]) from None


def load_plugin_config(path: str | os.PathLike[str]) -> PluginConfig:
    """Read and validate a plugin.yaml file.

    Raises:
        ConfigError: unreadable, or any rule broken.
    """
    file = Path(path)
    return parse_plugin_config(_read_file(file), str(file), base_dir=file.resolve().parent)


@dataclass(frozen=True, slots=True)
class ServeFlags:
    """What ``sealbox kms serve``'s flags say; ``None`` where a flag was not given."""

    socket: str | None = None
    key_file: Path | None = None
    metrics_address: str | None = None
    probe_interval: str | None = None  # a duration (30s), or a bare number of seconds
    v1beta1: bool | None = None

    def overrides(self) -> dict[str, tuple[str, object]]:
        """plugin.yaml field -> (flag, value), for the flags that were given."""
        given: dict[str, tuple[str, object]] = {}
        for field_name, flag, value in (
            ("socket", "--socket", self.socket),
            ("metricsAddress", "--metrics-address", self.metrics_address),
            ("healthProbeInterval", "--probe-interval", _seconds(self.probe_interval)),
            ("v1beta1", "--v1beta1", self.v1beta1),
        ):
            if value is not None:
                given[field_name] = (flag, value)
        return given


def _seconds(value: str | None) -> str | None:
    """``--probe-interval 5`` has always meant seconds: as plugin.yaml writes it, ``5s``."""
    if value is None:
        return None
    try:
        float(value)
    except ValueError:
        return value
    return f"{value}s"


def config_from_flags(flags: ServeFlags, config_file: Path | None) -> PluginConfig:
    """The plugin config from ``--config`` and the flags, validated as plugin.yaml is.

    Raises:
        ConfigError: a rule is broken; issues about a flag's value name the flag.
        InputError: flags that cannot go together, or a required one missing.
    """
    overrides = flags.overrides()
    if config_file is None:
        if flags.socket is None or flags.key_file is None:
            missing = "--socket" if flags.socket is None else "--key-file"
            raise InputError(
                f"{missing} is required without --config (e.g. sealbox kms serve "
                "--socket /var/run/sealbox/kms.sock --key-file kek.key), or give --config "
                "plugin.yaml"
            )
        source, base_dir = "command line", Path.cwd()
        document: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "backends": {"primary": {"type": "local", "keyFile": str(flags.key_file)}},
        }
        overrides["backends.primary.keyFile"] = ("--key-file", str(flags.key_file))
    else:
        if flags.key_file is not None:
            raise InputError(
                "--key-file goes with --socket alone; with --config the backends come from "
                f"{config_file} (set backends.primary.keyFile there)"
            )
        source, base_dir = str(config_file), config_file.resolve().parent
        document = _read_document(_read_file(config_file), source)
    for field_name, (_, value) in overrides.items():
        if "." not in field_name:
            document[field_name] = value
    try:
        return _validate(document, base_dir=base_dir)
    except _Invalid as exc:
        flag_of = {name: flag for name, (flag, _) in overrides.items()}
        issues = [
            ConfigIssue(flag_of[issue.path], issue.message)
            if issue.path in flag_of
            else ConfigIssue(issue.path, issue.message, line_at(document, issue.path))
            for issue in exc.issues
        ]
        raise ConfigError(source, issues) from None
