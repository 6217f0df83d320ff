"""The ``pkcs11`` backend's plugin.yaml section, and reading its PIN.

The config names where the PIN is (``pinFile`` or ``pinEnv``), never the PIN, so the model can be
printed and logged. :func:`read_pin` reads it once, when the backend is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, field_validator, model_validator

from sealbox.duration import duration_check, parse_go_duration
from sealbox.errors import ConfigError, ConfigIssue
from sealbox.kms.backends.settings import BackendSettings

__all__ = ["DEFAULT_MODULE", "Config", "Pin", "module_path", "read_pin"]

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
_MAX_LABEL_BYTES = 32  # CK_TOKEN_INFO.label is 32 bytes; key labels are held to the same


class Config(BackendSettings):
    """One ``pkcs11`` entry of plugin.yaml's ``backends``."""

    type: Literal["pkcs11"]
    module: str = DEFAULT_MODULE
    token_label: str
    key_label: str = "sealbox-kek"
    pin_file: Path | None = None
    pin_env: str | None = None
    generate_if_missing: bool = False
    rescan_interval: Annotated[
        str, AfterValidator(duration_check(low="0s", high="1h", example="10s"))
    ] = "10s"

    @field_validator("module")
    @classmethod
    def _module(cls, value: str) -> str:
        if not value.strip() or "\x00" in value:
            raise ValueError("the path of a PKCS#11 library, e.g. " + DEFAULT_MODULE)
        return value

    @field_validator("token_label", "key_label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value or "\x00" in value or len(value.encode()) > _MAX_LABEL_BYTES:
            raise ValueError(f"a label of 1 to {_MAX_LABEL_BYTES} bytes")
        return value

    @field_validator("pin_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or "=" in value or "\x00" in value):
            raise ValueError("the name of an environment variable, e.g. SEALBOX_HSM_PIN")
        return value

    @model_validator(mode="after")
    def _one_pin_source(self) -> Config:
        if (self.pin_file is None) == (self.pin_env is None):
            both = "both are set" if self.pin_file is not None else "neither is set"
            raise ValueError(f"set exactly one of pinFile or pinEnv ({both})")
        return self

    @property
    def rescan_seconds(self) -> float:
        return parse_go_duration(self.rescan_interval) / 1e9


class Pin:
    """A token PIN; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<PIN redacted>"


def module_path(module: str, base_dir: Path) -> str:
    """Where to load the library from: a bare file name is left to the loader's search path."""
    if "/" not in module:
        return module
    path = Path(module)
    return str(path if path.is_absolute() else base_dir / path)


def read_pin(config: Config, *, base_dir: Path, environ: Mapping[str, str]) -> Pin:
    """The PIN from ``pinFile`` (relative to ``base_dir``) or ``pinEnv``, one newline removed.

    Raises:
        ConfigError: the file cannot be read, the variable is not set, or the PIN is empty.
    """
    if config.pin_file is not None:
        path = config.pin_file if config.pin_file.is_absolute() else base_dir / config.pin_file
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(
                str(path), [ConfigIssue("", f"cannot read the PIN ({reason})")]
            ) from None
        source, where, what = str(path), "", "file"
    else:
        assert config.pin_env is not None
        text = environ.get(config.pin_env, "")
        source, where, what = "pkcs11 backend", "pinEnv", f"variable {config.pin_env}"
    pin = text.removesuffix("\n").removesuffix("\r")
    if not pin:
        raise ConfigError(source, [ConfigIssue(where, f"the PIN {what} is empty or not set")])
    return Pin(pin)
