"""``plugin.yaml``: everything ``sealbox kms serve`` needs, validated before anything starts.

::

    apiVersion: sealbox.io/v1alpha1
    kind: KMSPluginConfiguration
    socket: /var/run/sealbox/kms.sock      # or @name for an abstract socket
    socketMode: "0600"                      # octal; socketGroup: <group name> to share it
    healthProbeInterval: 30s                # cached backend round trip behind Status
    statusOnFailure: error                  # error | healthz (see docs/kms-plugin.md)
    metricsAddress: 127.0.0.1:9464          # optional: /metrics /healthz /livez /readyz
    v1beta1: false                          # also serve the deprecated KMS v1 API
    backends:
      primary: {type: local, keyFile: kek.key}
      decryptOnly:
      - {type: vault, address: https://vault:8200, keyName: k8s, auth: {...}}

Every error names its field (``backends.decryptOnly[0].keyName: Field required``). Relative
paths resolve against the config file's directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from sealbox.duration import duration_check, parse_go_duration
from sealbox.errors import ConfigError, ConfigIssue
from sealbox.kms.backends import (
    BACKEND_TYPES,
    ConfiguredBackend,
    backend_type,
    validation_issues,
)

__all__ = [
    "DEFAULT_PROBE_INTERVAL_SECONDS",
    "PluginConfig",
    "load_plugin_config",
    "parse_plugin_config",
]

API_VERSION = "sealbox.io/v1alpha1"
KIND = "KMSPluginConfiguration"
DEFAULT_PROBE_INTERVAL_SECONDS = 30.0
_MAX_UNIX_PATH = 107


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    api_version: Literal["sealbox.io/v1alpha1"]
    kind: Literal["KMSPluginConfiguration"]
    socket: str
    socket_mode: str = "0600"
    socket_group: str | None = None
    health_probe_interval: Annotated[
        str, AfterValidator(duration_check(low="50ms", high="1h", example="30s"))
    ] = "30s"
    status_on_failure: Literal["error", "healthz"] = "error"
    metrics_address: str | None = None
    v1beta1: bool = False
    backends: _Backends

    @field_validator("socket")
    @classmethod
    def _socket(cls, value: str) -> str:
        if not value.startswith(("/", "@")) or len(value) > _MAX_UNIX_PATH or "\x00" in value:
            raise ValueError(
                "an absolute socket path (at most 107 bytes) or @name for an abstract socket"
            )
        return value

    @field_validator("socket_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        try:
            mode = int(value, 8)
        except ValueError:
            raise ValueError("an octal mode such as 0600 or 0660") from None
        if mode & ~0o660:
            raise ValueError("only owner and group read/write are allowed (0600 or 0660)")
        return value

    @field_validator("metrics_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("host:port, e.g. 127.0.0.1:9464")
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
    try:
        return backend_type(str(kind)).configure(entry), []
    except ValidationError as exc:
        return None, validation_issues(exc, path)


def parse_plugin_config(text: str, source: str, *, base_dir: Path) -> PluginConfig:
    """Validate a plugin.yaml document.

    Raises:
        ConfigError: every problem found, each with its field path.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigIssue("", f"not valid YAML: {exc}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            source, [ConfigIssue("", "expected a mapping (a KMSPluginConfiguration)")]
        )
    try:
        document = _Document.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, validation_issues(exc)) from None
    primary, issues = _backend(document.backends.primary, "backends.primary")
    decrypt_only: list[ConfiguredBackend] = []
    for index, entry in enumerate(document.backends.decrypt_only):
        model, more = _backend(entry, f"backends.decryptOnly[{index}]")
        issues += more
        if model is not None:
            decrypt_only.append(model)
    if issues or primary is None:
        raise ConfigError(source, issues)
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


def load_plugin_config(path: str | os.PathLike[str]) -> PluginConfig:
    """Read and validate a plugin.yaml file.

    Raises:
        ConfigError: unreadable, or any rule broken.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(file), [ConfigIssue("", f"cannot read ({exc.strerror})")]) from None
    return parse_plugin_config(text, str(file), base_dir=file.resolve().parent)
