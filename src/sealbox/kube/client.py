"""lightkube clients as every Sealbox command and controller opens them.

One place decides what all of them share: the cluster and user :func:`load_config` finds, the
field manager ``sealbox`` on every write, a per-request timeout, and the retrying transport of
:mod:`sealbox.kube.retry` in front of the TLS connection (client certificate and CA from the
kubeconfig, as lightkube itself would set them up). What the clients raise is lightkube's own;
wrap calls in :func:`~sealbox.kube.errors.kube_errors` for Sealbox's typed errors.
"""

from __future__ import annotations

import ssl

import httpx2
from lightkube import AsyncClient, Client
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from sealbox.errors import KubeConfigError
from sealbox.kube.config import KubeTarget, load_config
from sealbox.kube.retry import AsyncRetryTransport, RetryPolicy, RetryTransport

__all__ = ["DEFAULT_TIMEOUT", "FIELD_MANAGER", "async_client", "sync_client"]

FIELD_MANAGER = "sealbox"
"""The field manager of every write (server-side apply and plain updates alike)."""

DEFAULT_TIMEOUT = 10.0
"""Seconds to connect, send, or wait for the next bytes of an answer (a watch waits unbounded)."""


def sync_client(
    target: KubeTarget | SingleConfig = KubeTarget(),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    namespace: str | None = None,
) -> Client:
    """A lightkube Client for ``target`` (a KubeTarget, or a config already loaded).

    Raises:
        KubeConfigError: no usable kubeconfig/context, or its CA or client certificate is
            unreadable.
    """
    config = _config(target)
    inner = httpx2.HTTPTransport(verify=_tls(config))
    return Client(
        config,
        namespace=namespace,
        timeout=httpx2.Timeout(timeout),
        field_manager=FIELD_MANAGER,
        transport=RetryTransport(inner, retry),
    )


def async_client(
    target: KubeTarget | SingleConfig = KubeTarget(),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retry: RetryPolicy | None = None,
    namespace: str | None = None,
) -> AsyncClient:
    """:func:`sync_client` for asyncio code (a controller)."""
    config = _config(target)
    inner = httpx2.AsyncHTTPTransport(verify=_tls(config))
    return AsyncClient(
        config,
        namespace=namespace,
        timeout=httpx2.Timeout(timeout),
        field_manager=FIELD_MANAGER,
        transport=AsyncRetryTransport(inner, retry),
    )


def _config(target: KubeTarget | SingleConfig) -> SingleConfig:
    return load_config(target) if isinstance(target, KubeTarget) else target


def _tls(config: SingleConfig) -> ssl.SSLContext:
    """The TLS context lightkube would build: the cluster's CA (or insecure), the client cert."""
    if config.user is None:  # pragma: no cover - load_config always resolves a user
        raise KubeConfigError(f"context {config.context_name}: names no user")
    try:
        return verify_cluster(config.cluster, config.user, config.abs_file)
    except (OSError, ssl.SSLError, LightkubeConfigError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KubeConfigError(
            f"context {config.context_name}: cannot load its CA or client certificate "
            f"({detail}); check certificate-authority, client-certificate and client-key"
        ) from None
