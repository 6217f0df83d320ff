"""The ``awskms`` backend's plugin.yaml section: :class:`Config` and the rules for its fields.

Also owns the patterns of AWS KMS key references (key ids, key ARNs, alias names and alias
ARNs); the backend reuses :data:`KEY_ARN` to check the ARNs AWS answers with and the ARNs inside
key_ids. The fields themselves are described in :mod:`sealbox.kms.backends.awskms`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from sealbox.kms.backends.settings import BackendSettings

__all__ = ["DEFAULT_ENCRYPTION_CONTEXT", "KEY_ARN", "Config"]

DEFAULT_ENCRYPTION_CONTEXT: Final[Mapping[str, str]] = {"sealbox.io/purpose": "kubernetes-kms"}

_ARN_HEAD = r"arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
_BARE_KEY = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32}"
_ALIAS = r"alias/[A-Za-z0-9/_-]{1,250}"
KEY_ARN: Final = re.compile(rf"{_ARN_HEAD}key/(?P<key>[A-Za-z0-9-]{{1,128}})")
_ALIAS_ARN = re.compile(rf"{_ARN_HEAD}(?P<alias>{_ALIAS})")
_BARE_KEY_ID = re.compile(_BARE_KEY)
_ALIAS_NAME = re.compile(_ALIAS)
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_PROFILE = re.compile(r"[A-Za-z0-9_.+=,@-]{1,128}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Config(BackendSettings):
    """One AWS KMS key. See :mod:`sealbox.kms.backends.awskms` for every field."""

    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["awskms"]
    region: str
    key_id: str = Field(min_length=1, max_length=2048)
    endpoint_url: str | None = None
    encryption_context: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ENCRYPTION_CONTEXT)
    )
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    max_attempts: int = Field(default=2, ge=1, le=10)
    profile: str | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.fullmatch(value):
            raise ValueError("expected an AWS region such as eu-west-1")
        return value

    @field_validator("key_id")
    @classmethod
    def _key_id(cls, value: str, info: ValidationInfo) -> str:
        alias = value
        arn = KEY_ARN.fullmatch(value) or _ALIAS_ARN.fullmatch(value)
        region = info.data.get("region")
        if arn is not None and region is not None and arn["region"] != region:
            raise ValueError(f"an ARN in region {arn['region']}, but region is {region}")
        if match := _ALIAS_ARN.fullmatch(value):
            alias = match["alias"]
        elif KEY_ARN.fullmatch(value) or _BARE_KEY_ID.fullmatch(value):
            return value
        elif not _ALIAS_NAME.fullmatch(value):
            raise ValueError(
                "expected a key id (UUID or mrk-…), a key ARN, alias/NAME or an alias ARN"
            )
        if alias.startswith("alias/aws/"):
            raise ValueError("alias/aws/… names AWS managed keys, which only AWS services may use")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            host = parts.hostname
            _ = parts.port
        except ValueError:
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            raise ValueError("expected an https URL such as https://kms.eu-west-1.amazonaws.com")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not contain credentials; boto3 finds them in its usual chain")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        if parts.scheme == "http" and not _is_loopback(host):
            raise ValueError("plain http is allowed only to a loopback address; use https")
        return value.rstrip("/")

    @field_validator("encryption_context")
    @classmethod
    def _context(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not key for key in value):
            raise ValueError("keys must not be empty")
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        if value is not None and not _PROFILE.fullmatch(value):
            raise ValueError("expected a profile name from the AWS shared config file")
        return value
