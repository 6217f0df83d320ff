"""HTTP to one OpenBao/Vault server for one store (used by :mod:`.vault_auth` and :mod:`.vault`).

:class:`VaultChannel` sends ``/v1/`` requests with httpx2 (no environment proxies or CA bundles,
no redirects: a redirect would carry ``X-Vault-Token`` elsewhere) and maps every failure to a
:class:`~sealbox.errors.ProviderError` naming the store and the path, never a token:
401/403 :class:`~sealbox.errors.ProviderAuthError`; 404 is returned to the caller (it knows
whether that means a missing key); other 4xx a plain ``ProviderError``; no connection, timeouts,
429, 5xx and a sealed server :class:`~sealbox.errors.ProviderUnavailable`. Server messages are
trimmed and any token-shaped text redacted before they reach an error.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Mapping
from typing import Any

import httpx2

from sealbox.errors import ProviderAuthError, ProviderError, ProviderUnavailable

__all__ = ["VaultChannel"]

_MAX_SERVER_MESSAGE = 200
_TOKEN_PATTERN = re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}")


def _trim(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = _TOKEN_PATTERN.sub("<redacted>", " ".join(text.split()))
    return text if len(text) <= _MAX_SERVER_MESSAGE else text[: _MAX_SERVER_MESSAGE - 1] + "…"


class VaultChannel:
    """HTTP to one Vault/OpenBao server for one store; every failure a ProviderError."""

    def __init__(
        self,
        store: str,
        server: str,
        *,
        namespace: str | None = None,
        ca_pem: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.server = server
        self.secrets: tuple[str, ...] = ()  # redacted from any server message
        verify: ssl.SSLContext | bool = True
        if ca_pem is not None:
            verify = ssl.create_default_context(cadata=ca_pem)
        headers = {"X-Vault-Namespace": namespace} if namespace else {}
        self._client = httpx2.AsyncClient(
            base_url=server.rstrip("/") + "/v1/",
            verify=verify,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx2.Timeout(timeout),
            headers=headers,
        )

    def __repr__(self) -> str:
        return f"VaultChannel({self.store}, {self.server})"

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        what: str,
        key: str = "",
        payload: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """``method /v1/<path>``: the JSON body (``{}`` for 204), ``None`` for 404.

        ``what`` says what the request is for and ``key`` which remote path, for messages.
        """
        headers = {"X-Vault-Token": token} if token else None
        try:
            answer = await self._client.request(
                method,
                path,
                headers=headers,
                json=dict(payload) if payload is not None else None,
                params=dict(params) if params else None,
            )
        except httpx2.TimeoutException:
            raise ProviderUnavailable(
                self.store, f"{what}: no answer from {self.server} in time", key=key
            ) from None
        except httpx2.HTTPError as err:
            raise ProviderUnavailable(
                self.store, f"{what}: cannot reach {self.server} ({type(err).__name__})", key=key
            ) from None
        status = answer.status_code
        if status == 204:
            return {}
        if status == 404 and method != "LIST":
            return None
        body: object = None
        try:
            body = answer.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if 200 <= status < 300:
            if isinstance(body, dict):
                return body
            raise ProviderUnavailable(
                self.store, f"{what}: unexpected answer (HTTP {status}, not JSON)", key=key
            )
        if status == 404:  # LIST of an empty folder
            return {"data": {"keys": []}}
        message = ""
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            message = _trim("; ".join(str(e) for e in body["errors"]), self.secrets)
        detail = f": {message}" if message else ""
        if status in (401, 403):
            raise ProviderAuthError(
                self.store, f"{what}: permission denied (HTTP {status})", key=key
            )
        if status in (429, 500, 502, 503, 504) or status >= 500:
            if "sealed" in message.lower():
                raise ProviderUnavailable(self.store, f"{what}: the server is sealed", key=key)
            raise ProviderUnavailable(self.store, f"{what}: HTTP {status}{detail}", key=key)
        if 300 <= status < 400:
            raise ProviderUnavailable(
                self.store,
                f"{what}: redirected (HTTP {status}), which is not followed: set server to the "
                "active node or a load balancer",
                key=key,
            )
        raise ProviderError(self.store, f"{what}: rejected (HTTP {status}){detail}", key=key)
