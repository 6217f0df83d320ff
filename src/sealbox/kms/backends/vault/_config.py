"""The ``vault`` backend's configuration: the transit key, TLS, and one of three auth methods.

Validation only; the package documents the fields and uses them. Secrets are
never values here, only a file or an environment variable that holds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from sealbox.kms.backends.settings import BackendSettings, SettingsModel

__all__ = [
    "DEFAULT_JWT_FILE",
    "DIGEST_CHARS",
    "KEY_ID_LIMIT",
    "AppRoleAuth",
    "Config",
    "KubernetesAuth",
    "TokenAuth",
    "VaultAuth",
]

DEFAULT_JWT_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
KEY_ID_LIMIT = 1024
DIGEST_CHARS = 16  # hex characters of the key identity digest in a key_id
_NAME = r"\w(?:[\w.-]*\w)?"
_PATH = rf"{_NAME}(?:/{_NAME})*"

KeyName = Annotated[str, Field(pattern=rf"^{_NAME}$", max_length=256)]
MountPath = Annotated[str, Field(pattern=rf"^{_PATH}$", max_length=256)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=256)]


def _check_one(first: object, second: object, first_name: str, second_name: str) -> None:
    """Exactly one of two optional fields (named by their YAML keys) is set."""
    if first is not None and second is not None:
        raise ValueError(f"set only one of {first_name} or {second_name}, not both")
    if first is None and second is None:
        raise ValueError(f"set one of {first_name} or {second_name}")


class _SecretSourceSettings(SettingsModel):
    """An auth section naming its secret by exactly one of two fields: a file or a variable."""

    SOURCES: ClassVar[tuple[str, str]]

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        first, second = self.SOURCES
        _check_one(getattr(self, first), getattr(self, second), to_camel(first), to_camel(second))
        return self


class TokenAuth(_SecretSourceSettings):
    """A token the operator provides (file or environment variable)."""

    SOURCES = ("token_file", "token_env")
    method: Literal["token"]
    token_file: Path | None = None
    token_env: EnvName | None = None


class AppRoleAuth(_SecretSourceSettings):
    """AppRole login; the role_id is an identifier, the secret_id a credential."""

    SOURCES = ("secret_id_file", "secret_id_env")
    method: Literal["approle"]
    role_id: str = Field(min_length=1, max_length=256)
    secret_id_file: Path | None = None
    secret_id_env: EnvName | None = None
    mount: MountPath = "approle"


class KubernetesAuth(SettingsModel):
    """Kubernetes login with the pod's (projected) service-account token."""

    method: Literal["kubernetes"]
    role: str = Field(min_length=1, max_length=256)
    jwt_file: Path = DEFAULT_JWT_FILE
    mount: MountPath = "kubernetes"


VaultAuth = Annotated[TokenAuth | AppRoleAuth | KubernetesAuth, Field(discriminator="method")]


class Config(BackendSettings):
    """One Vault/OpenBao transit key."""

    type: Literal["vault"]
    address: str
    transit_mount: MountPath = "transit"
    key_name: KeyName
    namespace: Annotated[str, Field(pattern=rf"^{_PATH}$", max_length=256)] | None = None
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    tls_skip_verify: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    auth: VaultAuth

    @field_validator("transit_mount", mode="before")
    @classmethod
    def _strip_slashes(cls, value: object) -> object:
        return value.strip("/") if isinstance(value, str) else value

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain credentials (use auth)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_tls(self) -> Self:
        https = self.address.startswith("https://")
        for name, value in (
            ("caFile", self.ca_file),
            ("clientCertFile", self.client_cert_file),
            ("clientKeyFile", self.client_key_file),
            ("tlsSkipVerify", self.tls_skip_verify or None),
        ):
            if value is not None and not https:
                raise ValueError(f"{name} needs an https:// address")
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("set both clientCertFile and clientKeyFile, or neither")
        if self.tls_skip_verify and self.ca_file is not None:
            raise ValueError("set only one of caFile or tlsSkipVerify")
        longest = len(f"vault:{self.transit_mount}/{self.key_name}:v4294967295:") + DIGEST_CHARS
        if longest > KEY_ID_LIMIT:
            raise ValueError("transitMount and keyName are too long for a 1 KiB key_id")
        return self
