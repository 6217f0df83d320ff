"""How the ``awskms`` backend reports a failed AWS call: botocore and AWS KMS errors mapped to
:class:`BackendUnavailable` (try again later) or :class:`BackendRejected` (a definite no).

Connection failures, timeouts, throttling, HTTP 5xx, the transient KMS exceptions, expired tokens
and missing credentials are unavailable; so are answers that refuse the plugin's own principal
(``AccessDeniedException``, an unrecognized or badly signed credential), as
:class:`AccessDenied`: nothing is wrong with the request. On Decrypt, only a denial saying the
principal "is not authorized" is that; any other AccessDeniedException there is the
ciphertext's doing (it "refers to a customer master key that does not exist ... or you are not
allowed to access": a tampered key reference) and is rejected like any ciphertext that does not
unwrap. Every other answer is a rejection.
Messages name the key, the region and the endpoint, never credentials, plaintext or ciphertext,
and a failed Decrypt does not say which check failed. Pure functions: dropping a client that has
no credentials is left to the backend.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from sealbox.errors import AccessDenied, BackendRejected, BackendUnavailable
from sealbox.kms.backends.awskms._config import Config

__all__ = ["call_error", "credentials_problem"]

# Answers meaning "try again later" rather than "no": the KEP wants these to stay out of liveness.
_TRANSIENT_CODES = frozenset(
    {
        "KMSInternalException",
        "KeyUnavailableException",
        "DependencyTimeoutException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "ExpiredTokenException",
        "ExpiredToken",
    }
)
# Answers refusing the plugin's own principal or its credential, not the request.
_ACCESS_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
    }
)
# A failed unwrap must not tell which check failed (no oracle): these get one generic message.
_UNWRAP_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
# How AWS words an AccessDeniedException that refuses the principal ("User: arn:... is not
# authorized to perform: kms:Decrypt on resource: ..."). On Decrypt, any other denial is the
# ciphertext's doing: AWS's "The ciphertext refers to a customer master key that does not exist
# ... or you are not allowed to access" (a tampered key reference), or moto's bare denial of a
# ciphertext made under another key than the KeyId asked for (AWS: IncorrectKeyException).
_PRINCIPAL_DENIAL = "not authorized"


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def credentials_problem(exc: BotoCoreError) -> str:
    """Why the AWS client could not get credentials (or be set up), without any secret."""
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found (environment, web identity, profile, container or "
            "instance metadata)"
        )
    if isinstance(exc, PartialCredentialsError):
        return "AWS credentials are incomplete (a key id without its secret, or the reverse)"
    if isinstance(exc, CredentialRetrievalError):
        return f"loading AWS credentials failed ({exc.kwargs.get('provider', 'unknown')})"
    return f"cannot set up the AWS client ({type(exc).__name__})"


def call_error(
    operation: str,
    exc: Exception,
    *,
    where: str,
    endpoint: Callable[[], str],
    config: Config,
    deadline: bool = False,
) -> BackendUnavailable | BackendRejected:
    """The Backend error for a failed AWS call; never echoes request or credentials.

    ``where`` starts the message (backend, operation and key); ``endpoint`` is asked for the URL
    only when the message names it. ``deadline`` says the call had a caller's deadline, which
    may have cut its timeouts and retries short.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or "UnknownError"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = _one_line(str(error.get("Message", "")))
        detail = f"{code}: {message}" if message else code
        if code in _TRANSIENT_CODES or status >= 500:
            return BackendUnavailable(f"{where} failed at {endpoint()}, retry later ({detail})")
        if operation == "Decrypt" and (
            code in _UNWRAP_CODES
            or (code == "AccessDeniedException" and _PRINCIPAL_DENIAL not in message.lower())
        ):
            return BackendRejected(
                f"{where}: ciphertext does not unwrap (wrong key, tampered data or a "
                f"different encryption context)"
            )
        if code in _ACCESS_CODES:
            return AccessDenied(
                f"{where} refused by AWS KMS ({detail}): the plugin's principal needs "
                "kms:DescribeKey, kms:Encrypt and kms:Decrypt on the key"
            )
        return BackendRejected(f"{where} refused by AWS KMS ({detail})")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return BackendUnavailable(f"{where}: {credentials_problem(exc)}")
    if isinstance(exc, ParamValidationError):
        return BackendRejected(f"{where}: request not valid for AWS KMS")
    attempts = f"{config.max_attempts} attempt(s)"
    timeout = f"{config.timeout_seconds:g}s"
    if deadline:  # the attempts may have been fewer and shorter: say what bounded them
        attempts = f"at most {attempts} of {timeout}, within the caller's deadline"
    if isinstance(exc, ConnectTimeoutError):
        reason = f"connect timed out after {timeout}, {attempts}"
    elif isinstance(exc, ReadTimeoutError):
        reason = (
            f"no answer in time, {attempts}"
            if deadline
            else f"no answer within {timeout}, {attempts}"
        )
    elif isinstance(exc, EndpointConnectionError):
        reason = f"connection failed, {attempts}"
    elif isinstance(exc, ConnectionClosedError):
        reason = f"connection closed, {attempts}"
    else:
        reason = type(exc).__name__
    return BackendUnavailable(f"{where}: cannot reach AWS KMS at {endpoint()} ({reason})")
