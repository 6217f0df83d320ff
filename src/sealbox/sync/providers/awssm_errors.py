"""What an AWS SDK failure means for a Secrets Manager read: missing, refused, or unavailable.

``ResourceNotFoundException`` (or a secret being deleted) is :class:`RemoteKeyMissing`; HTTP
401/403 and AWS's credential and access codes are a refusal (:class:`Refused`, which the client
turns into a backoff and a :class:`ProviderAuthError`); throttling, 5xx and network failures are
:class:`ProviderUnavailable`; any other code a plain :class:`ProviderError`. Details keep AWS's
code and at most 200 characters of its message, never a body botocore did not parse.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from sealbox.errors import ProviderError, ProviderUnavailable, RemoteKeyMissing

__all__ = ["Refused", "sdk_error"]

_MISSING_CODES = frozenset({"ResourceNotFoundException"})
_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "ExpiredTokenException",
        "ExpiredToken",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


@dataclass(frozen=True, slots=True)
class Refused:
    """AWS refused the store's credentials (``detail``: its code and message)."""

    detail: str


def sdk_error(
    label: str, endpoint: str, operation: str, exc: Exception, key: str
) -> ProviderError | Refused:
    """The error ``exc`` (a botocore error raised by ``operation`` on ``key``) stands for."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or "UnknownError"
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = " ".join(str(error.get("Message", "")).split())[:200]
        if message.startswith("<"):  # an XML body botocore did not parse: no detail
            message = ""
        detail = f"{code}: {message}" if message else code
        if code in _MISSING_CODES:
            return RemoteKeyMissing(label, f"no such secret ({detail})", key=key)
        if code == "InvalidRequestException" and "delet" in message.lower():
            return RemoteKeyMissing(label, f"the secret is deleted ({detail})", key=key)
        if code in _AUTH_CODES or status in (401, 403):
            return Refused(detail)
        if code in _TRANSIENT_CODES or status == 429 or status >= 500:
            return ProviderUnavailable(
                label, f"{operation} failed at {endpoint} ({detail})", key=key
            )
        return ProviderError(label, f"{operation} refused ({detail})", key=key)
    if type(exc).__name__ in (
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
    ):
        return Refused("no usable AWS credentials")
    return ProviderUnavailable(
        label,
        f"{operation}: cannot reach {endpoint} ({type(exc).__name__})",
        key=key,
    )
