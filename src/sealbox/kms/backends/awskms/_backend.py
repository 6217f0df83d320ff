"""The ``awskms`` backend: :class:`AwsKmsBackend` (blocking, through boto3) and :func:`build`.

The package docstring documents the config, the key_id, the ciphertext and the errors.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn, cast

import boto3
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from sealbox.errors import BackendRejected, BackendUnavailable, ConfigError, ConfigIssue
from sealbox.kms import Wrapped
from sealbox.kms.backends.awskms._config import KEY_ARN, Config
from sealbox.kms.backends.awskms._errors import call_error, credentials_problem
from sealbox.kms.backends.deadline import network_timeout, time_left
from sealbox.kms.backends.kind import threaded_kind

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient
    from mypy_boto3_kms.type_defs import KeyMetadataTypeDef

__all__ = [
    "FORMAT_V1",
    "KEY_ID_PREFIX",
    "KIND",
    "THREADS",
    "AwsKmsBackend",
    "build",
    "parse_key_id",
]

log = logging.getLogger("sealbox.kms.backends.awskms")

KEY_ID_PREFIX: Final = "awskms:"
FORMAT_V1: Final = b"\x01"
THREADS: Final = 8
_MAX_BLOB_BYTES = 6144  # the largest CiphertextBlob AWS KMS accepts
_MAX_PLAINTEXT_BYTES = 4096
_CLIENT_RETRY_SECONDS = 1.0
# botocore waits up to 1 s (random backoff) before its first retry, then the attempt needs time.
_MIN_RETRY_SECONDS = 1.0
_ALGORITHM: Final = "SYMMETRIC_DEFAULT"

_MATERIAL_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def parse_key_id(key_id: str) -> tuple[str, str | None] | None:
    """``(key ARN, key material id or None)`` of an awskms key_id, or ``None`` if it is not one."""
    if not key_id.startswith(KEY_ID_PREFIX):
        return None
    arn, sep, material = key_id[len(KEY_ID_PREFIX) :].partition("#")
    if not KEY_ARN.fullmatch(arn):
        return None
    if sep and not _MATERIAL_ID.fullmatch(material):
        return None
    return arn, (material if sep else None)


def _key_id_for(arn: str, material: str | None) -> str:
    return KEY_ID_PREFIX + arn + (f"#{material}" if material else "")


@dataclass(frozen=True, slots=True)
class _Current:
    arn: str
    material: str | None
    key_id: str


def _quiet_sdk_logs() -> None:
    """botocore logs request and response bodies (which carry seeds) at DEBUG."""
    logger = logging.getLogger("botocore")
    if logger.level == logging.NOTSET or logger.level < logging.INFO:
        logger.setLevel(logging.INFO)


class AwsKmsBackend:
    """One AWS KMS key; safe to call from :data:`THREADS` threads at once."""

    kind = "awskms"
    threads = THREADS  # safe to call from this many threads at once

    def __init__(self, config: Config) -> None:
        self.config = config
        self.label = f"awskms {config.key_id} in {config.region}"
        self._context = dict(config.encryption_context)
        self._lock = threading.Lock()
        self._closed = False
        self._current: _Current | None = None
        self._client_error = ""
        self._next_client_attempt = 0.0
        self._default_endpoint = f"the AWS KMS endpoint of {config.region}"
        _quiet_sdk_logs()
        try:
            self._session = boto3.Session(profile_name=config.profile, region_name=config.region)
        except ProfileNotFound:
            raise ConfigError(
                self.label,
                [ConfigIssue("profile", f"no profile {config.profile!r} in the AWS config files")],
            ) from None
        self._client: KMSClient | None = None
        self._client = self._new_client()

    @property
    def endpoint(self) -> str:
        """The URL requests go to (the configured one, else the regional AWS endpoint)."""
        if self.config.endpoint_url:
            return self.config.endpoint_url
        client = self._client
        if client is not None:
            self._default_endpoint = str(client.meta.endpoint_url)
        return self._default_endpoint

    @property
    def client(self) -> KMSClient:
        """The boto3 KMS client (for tests and diagnostics).

        Raises:
            BackendUnavailable: it cannot be built right now (e.g. credentials failed to load).
        """
        return self._get_client()

    def _new_client(self) -> KMSClient | None:
        """Build the client; ``None`` (and a remembered reason) if credentials fail to load."""
        config = self.config
        botocore_config = BotoConfig(
            region_name=config.region,
            connect_timeout=config.timeout_seconds,
            read_timeout=config.timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": config.max_attempts},
            max_pool_connections=THREADS + 2,
            user_agent_extra="sealbox",
        )
        try:
            client = self._session.client(
                "kms",
                region_name=config.region,
                endpoint_url=config.endpoint_url,
                config=botocore_config,
            )
        except BotoCoreError as exc:
            self._client_error = credentials_problem(exc)
            return None
        events = client.meta.events
        events.register("before-send.kms", self._fit_attempt)
        # The stubs say handlers return None; needs-retry handlers return a delay, or False.
        events.register_first("needs-retry.kms", cast("Callable[..., None]", self._retry_in_time))
        return client

    def _fit_attempt(self, request: AWSPreparedRequest, **_: object) -> None:
        """botocore ``before-send``: an attempt reads for ``timeoutSeconds``, or less to end
        before the deadline of the KMS call it serves (the connect timeout stays configured)."""
        context = getattr(request, "context", None)  # botocore >= 1.42 reads a per-request
        if time_left() is not None and isinstance(context, dict):  # read_timeout from it
            context["read_timeout"] = network_timeout(self.config.timeout_seconds, self.label)

    def _retry_in_time(self, **_: object) -> bool | None:
        """botocore ``needs-retry``, ahead of its retry policy: no retry (``False``) when the
        KMS call's deadline leaves no room for a backoff and another attempt; else ``None``,
        and the policy decides."""
        left = time_left()
        return None if left is None or left >= _MIN_RETRY_SECONDS else False

    def _get_client(self) -> KMSClient:
        if self._closed:
            raise BackendUnavailable(f"{self.label}: backend is closed")
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                now = time.monotonic()
                if now < self._next_client_attempt:
                    raise BackendUnavailable(f"{self.label}: {self._client_error}")
                self._next_client_attempt = now + _CLIENT_RETRY_SECONDS
                self._client = self._new_client()
                if self._client is None:
                    raise BackendUnavailable(f"{self.label}: {self._client_error}")
            return self._client

    def _drop_client(self, client: KMSClient, reason: str) -> None:
        """Forget a client that has no credentials, so a later call looks for them again."""
        with self._lock:
            if self._client is client:
                self._client = None
                self._client_error = reason

    # key resolution ---------------------------------------------------------------------------

    def current_key_id(self) -> str:
        """Resolve the configured key again (DescribeKey) and return the key_id wraps will carry.

        Raises:
            BackendUnavailable: AWS KMS cannot be reached or is throttling.
            BackendRejected: the key does not exist, is not usable for encryption, or no access.
        """
        return self._refresh().key_id

    def _refresh(self) -> _Current:
        client = self._get_client()
        try:
            meta = client.describe_key(KeyId=self.config.key_id)["KeyMetadata"]
        except (BotoCoreError, ClientError) as exc:
            self._fail("DescribeKey", exc, client, key=self.config.key_id)
        arn = str(meta.get("Arn", ""))
        match = KEY_ARN.fullmatch(arn)
        if match is None:
            raise BackendUnavailable(f"{self.label}: DescribeKey answered without a key ARN")
        if match["region"] != self.config.region:
            raise BackendRejected(f"{self.label}: the key {arn} is not in {self.config.region}")
        self._check_usable(arn, meta)
        material = meta.get("CurrentKeyMaterialId")
        if material is not None and not _MATERIAL_ID.fullmatch(material):
            log.warning(
                "ignoring an unexpected key material id",
                extra={"backend": self.label, "arn": arn},
            )
            material = None
        with self._lock:
            previous = self._current
            if material is None and previous is not None and previous.arn == arn:
                material = previous.material  # never flap back to the bare ARN
            current = _Current(arn, material, _key_id_for(arn, material))
            self._current = current
        if previous is not None and previous.key_id != current.key_id:
            log.info(
                "AWS KMS key changed; new wraps use the new key_id",
                extra={"backend": self.label, "old": previous.key_id, "new": current.key_id},
            )
        return current

    def _check_usable(self, arn: str, meta: KeyMetadataTypeDef) -> None:
        state = meta.get("KeyState", "Enabled" if meta.get("Enabled", True) else "Disabled")
        if state != "Enabled":
            raise BackendRejected(f"{self.label}: the key {arn} is {state}; it cannot encrypt")
        usage = meta.get("KeyUsage", "ENCRYPT_DECRYPT")
        spec = meta.get("KeySpec", _ALGORITHM)
        if usage != "ENCRYPT_DECRYPT" or spec != _ALGORITHM:
            raise BackendRejected(
                f"{self.label}: the key {arn} is a {spec} key for {usage}; "
                f"a {_ALGORITHM} key for ENCRYPT_DECRYPT is required"
            )

    # wrap / unwrap ----------------------------------------------------------------------------

    def wrap(self, plaintext: bytes) -> Wrapped:
        if not 0 < len(plaintext) <= _MAX_PLAINTEXT_BYTES:
            raise BackendRejected(
                f"{self.label}: AWS KMS encrypts 1 to {_MAX_PLAINTEXT_BYTES} bytes, "
                f"not {len(plaintext)}"
            )
        current = self._current or self._refresh()
        client = self._get_client()
        try:
            answer = client.encrypt(
                KeyId=current.arn,
                Plaintext=plaintext,
                EncryptionContext=self._context,
                EncryptionAlgorithm=_ALGORITHM,
            )
        except (BotoCoreError, ClientError) as exc:
            self._fail("Encrypt", exc, client, key=current.arn)
        blob = answer.get("CiphertextBlob")
        if not isinstance(blob, bytes) or not 0 < len(blob) <= _MAX_BLOB_BYTES:
            raise BackendUnavailable(f"{self.label}: Encrypt answered without a usable ciphertext")
        reported = answer.get("KeyId")
        if reported != current.arn:
            raise BackendRejected(
                f"{self.label}: Encrypt used key {str(reported)[:200]!r}, not {current.arn}"
            )
        return Wrapped(ciphertext=FORMAT_V1 + blob, key_id=current.key_id)

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
        parsed = parse_key_id(key_id)
        if parsed is None:
            raise BackendRejected(f"{self.label}: key_id {key_id[:100]!r} is not an awskms key_id")
        arn = parsed[0]
        if not self.owns(key_id):
            raise BackendRejected(f"{self.label}: the key {arn} is not in {self.config.region}")
        if not ciphertext.startswith(FORMAT_V1) or not 1 < len(ciphertext) <= 1 + _MAX_BLOB_BYTES:
            raise BackendRejected(f"{self.label}: ciphertext is not in the awskms format")
        client = self._get_client()
        try:
            answer = client.decrypt(
                CiphertextBlob=ciphertext[1:],
                KeyId=arn,
                EncryptionContext=self._context,
                EncryptionAlgorithm=_ALGORITHM,
            )
        except (BotoCoreError, ClientError) as exc:
            self._fail("Decrypt", exc, client, key=arn)
        if answer.get("KeyId") != arn:
            raise BackendRejected(f"{self.label}: ciphertext does not unwrap under {arn}")
        plaintext = answer.get("Plaintext")
        if not isinstance(plaintext, bytes) or not plaintext:
            raise BackendUnavailable(f"{self.label}: Decrypt answered without a plaintext")
        return plaintext

    def owns(self, key_id: str) -> bool:
        parsed = parse_key_id(key_id)
        if parsed is None:
            return False
        match = KEY_ARN.fullmatch(parsed[0])
        return match is not None and match["region"] == self.config.region

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        current = self._current
        return (
            f"AwsKmsBackend(key_id={self.config.key_id!r}, region={self.config.region!r}, "
            f"endpoint={self.config.endpoint_url!r}, "
            f"resolved={current.arn if current else None!r})"
        )

    # errors -----------------------------------------------------------------------------------

    def _fail(self, operation: str, exc: Exception, client: KMSClient, *, key: str) -> NoReturn:
        """Raise the Backend error for a failed AWS call; never echoes request or credentials."""
        error = call_error(
            operation,
            exc,
            where=f"{self.label}: {operation} on {key}",
            endpoint=lambda: self.endpoint,
            config=self.config,
            deadline=time_left() is not None,
        )
        if isinstance(exc, NoCredentialsError):
            self._drop_client(client, credentials_problem(exc))
        raise error from None


def build(config: Config, *, base_dir: Path) -> AwsKmsBackend:
    """The backend for ``config``; no AWS call is made until the first use.

    Raises:
        ConfigError: the named ``profile`` does not exist.
    """
    del base_dir  # nothing here is a file path
    return AwsKmsBackend(config)


KIND = threaded_kind("awskms", Config, build, threads=THREADS)
"""The ``awskms`` entry of the backend registry: served on threads of its own; the key rotates in
AWS KMS (automatic or on-demand rotation, or a new key behind the alias)."""
