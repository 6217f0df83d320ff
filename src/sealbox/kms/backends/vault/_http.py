"""HTTP layer of the ``vault`` backend (private): requests to one Vault server, failures mapped.

:class:`Transport` sends one request through hvac's typed ``JSONAdapter`` on a
``requests.Session`` that ignores the environment (no ``VAULT_*``/``REQUESTS_CA_BUNDLE``/proxy
variables, no ``~/.vault-token``) and follows no redirects (they would carry the token
elsewhere): only the plugin config decides where requests go. It maps every failure to
``BackendUnavailable`` (network, timeout, 429, 5xx, sealed; a ``ServerFailed`` when Vault
answered; ``AccessDenied`` for 401/403, which refuse the plugin's token, not the request) or
``RequestRefused`` (a ``BackendRejected``: any other 4xx), all from :mod:`sealbox.errors`, with
messages that name the backend and the operation, carry at most a trimmed server message (known
secrets and anything token-shaped redacted), and never a token.

Each request waits at most ``timeoutSeconds`` (connect, then read), or less when the KMS call it
serves has less time left (:func:`~sealbox.kms.backends.deadline.network_timeout`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hvac.exceptions
import requests
import requests.adapters
from hvac.adapters import JSONAdapter

from sealbox.errors import AccessDenied, BackendUnavailable, RequestRefused, ServerFailed
from sealbox.kms.backends.deadline import network_timeout
from sealbox.kms.backends.vault._config import Config

__all__ = ["Transport"]

_MAX_SERVER_MESSAGE = 200
_TOKEN_PATTERN = re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}")
_ERRNO_PATTERN = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")

_REJECTED_STATUS: Mapping[type[hvac.exceptions.VaultError], int] = {
    hvac.exceptions.InvalidRequest: 400,
    hvac.exceptions.Unauthorized: 401,
    hvac.exceptions.Forbidden: 403,
    hvac.exceptions.InvalidPath: 404,
    hvac.exceptions.UnsupportedOperation: 405,
    hvac.exceptions.ParamValidationError: 400,
}
_UNAVAILABLE_STATUS: Mapping[type[hvac.exceptions.VaultError], int] = {
    hvac.exceptions.RateLimitExceeded: 429,
    hvac.exceptions.InternalServerError: 500,
    hvac.exceptions.VaultNotInitialized: 501,
    hvac.exceptions.BadGateway: 502,
    hvac.exceptions.VaultDown: 503,
    hvac.exceptions.PreconditionFailed: 412,
}


def _trim(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = _TOKEN_PATTERN.sub("<redacted>", " ".join(text.split()))
    return text if len(text) <= _MAX_SERVER_MESSAGE else text[: _MAX_SERVER_MESSAGE - 1] + "…"


def _server_message(err: hvac.exceptions.VaultError) -> str:
    errors = err.errors
    if isinstance(errors, str):
        return errors
    if errors:
        return "; ".join(str(e) for e in errors)
    return str(err.args[0]) if err.args and err.args[0] else ""


def _connection_reason(err: requests.exceptions.RequestException) -> str:
    if isinstance(err, requests.exceptions.SSLError):
        text = str(err)
        if "CERTIFICATE_VERIFY_FAILED" in text:
            match = re.search(r"certificate verify failed: ([^(')\"]+)", text)
            detail = match.group(1).strip() if match else "certificate verify failed"
            return f"TLS certificate verification failed ({detail})"
        return "TLS handshake failed"
    match = _ERRNO_PATTERN.search(str(err))
    if match:
        return match.group(1).strip().lower()
    if "RemoteDisconnected" in str(err) or "Connection aborted" in str(err):
        return "connection closed by the server"
    return type(err).__name__


class Transport:
    """One Vault server: sends requests and turns every failure into a Sealbox error."""

    def __init__(
        self, config: Config, *, label: str, resolve: Callable[[Path], Path], pool_size: int
    ) -> None:
        """``resolve`` turns the config's relative file paths into real ones."""
        self.address = address = config.address
        self.label = label
        self.timeout = config.timeout_seconds
        self.secrets: tuple[str, ...] = ()
        skip_verify = config.tls_skip_verify
        ca_file = resolve(config.ca_file) if config.ca_file is not None else None
        client_cert = None
        if config.client_cert_file is not None and config.client_key_file is not None:
            client_cert = (
                str(resolve(config.client_cert_file)),
                str(resolve(config.client_key_file)),
            )
        session = requests.Session()
        session.trust_env = False  # no proxy/CA/netrc settings from the environment
        http = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        session.mount("https://", http)
        session.mount("http://", http)
        # JSONAdapter prefers a truthy session.verify over its own ``verify`` argument.
        session.verify = False if skip_verify else str(ca_file) if ca_file is not None else True
        if client_cert is not None:
            session.cert = client_cert
        self._adapter = JSONAdapter(
            base_uri=address,
            token=None,
            cert=client_cert,
            verify=not skip_verify,
            session=session,
            namespace=config.namespace,
            allow_redirects=False,  # a redirect would carry X-Vault-Token to wherever it points
        )

    def close(self) -> None:
        self._adapter.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        token: str | None,
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send ``method /v1/<path>``; the decoded JSON body (``{}`` for 204).

        Raises:
            AccessDenied: 401/403.
            RequestRefused: any other 4xx.
            BackendUnavailable: no connection, timeout (or no time left before the caller's
                deadline), 429, 5xx or an unreadable answer.
        """
        headers = {"X-Vault-Token": token} if token else None
        timeout = network_timeout(self.timeout, f"{self.label}: {what}")
        try:
            answer = self._adapter.request(
                method,
                f"/v1/{path}",
                headers=headers,
                json=dict(payload) if payload is not None else None,
                timeout=timeout,
            )
        except hvac.exceptions.VaultError as err:
            raise self._vault_error(err, what) from None
        except requests.exceptions.Timeout:
            within = (
                f"within {self.timeout:g}s"
                if timeout >= self.timeout
                else "before the caller's deadline"
            )
            raise BackendUnavailable(f"{self.label}: {what}: no answer {within}") from None
        except requests.exceptions.RequestException as err:
            raise BackendUnavailable(
                f"{self.label}: {what}: cannot connect: {_connection_reason(err)}"
            ) from None
        except OSError as err:  # e.g. an unreadable CA bundle or client key
            raise BackendUnavailable(
                f"{self.label}: {what}: TLS setup failed: {err.strerror or type(err).__name__}"
            ) from None
        if isinstance(answer, dict):
            return answer
        if answer.status_code == 204:
            return {}
        if answer.is_redirect:
            raise BackendUnavailable(
                f"{self.label}: {what}: redirected (HTTP {answer.status_code}), which is not "
                "followed: set address to the active node or a load balancer"
            )
        raise BackendUnavailable(
            f"{self.label}: {what}: unexpected answer from {self.address} "
            f"(HTTP {answer.status_code}, not JSON)"
        )

    def _vault_error(self, err: hvac.exceptions.VaultError, what: str) -> Exception:
        message = _trim(_server_message(err), self.secrets)
        detail = f": {message}" if message else ""
        kind = type(err)
        if kind in (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            status = _REJECTED_STATUS[kind]
            return AccessDenied(f"{self.label}: {what} refused: permission denied (HTTP {status})")
        if kind in _REJECTED_STATUS:
            status = _REJECTED_STATUS[kind]
            return RequestRefused(
                f"{self.label}: {what} rejected (HTTP {status}){detail}",
                status=status,
                server_message=message,
            )
        status_text = (
            f"HTTP {_UNAVAILABLE_STATUS[kind]}"
            if kind in _UNAVAILABLE_STATUS
            else "unexpected HTTP status"
        )
        if "sealed" in message.lower():
            return ServerFailed(
                f"{self.label}: {what} failed: Vault is sealed", server_message=message
            )
        return ServerFailed(
            f"{self.label}: {what} failed ({status_text}){detail}", server_message=message
        )
