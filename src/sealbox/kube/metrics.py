"""Read an apiserver's ``/metrics``, as the kubeconfig's user, from any apiserver of a cluster.

Several apiservers behind one load balancer answer at random, and all those on one host report
the same ``apiserver_id_hash``; so a caller asking each of them names each by URL, and the
kubeconfig supplies only who is asking (token, client certificate, exec plugin) and which CAs to
trust. Failures are the typed :mod:`sealbox.errors` ones, each naming the URL and what to fix.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx2 as httpx
from lightkube.config.client_adapter import user_auth, verify_cluster
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from sealbox.errors import (
    InputError,
    KubeConfigError,
    KubeError,
    KubeForbidden,
    KubeUnavailable,
)
from sealbox.kube.retry import RetryPolicy, RetryTransport

__all__ = ["apiserver_url", "fetch_metrics"]

_RBAC_HINT = (
    'grant it a ClusterRole with the rule nonResourceURLs: ["/metrics"], verbs: ["get"] '
    "(kubectl create clusterrole metrics-reader --verb=get --non-resource-url=/metrics, "
    "then a clusterrolebinding)"
)


def apiserver_url(value: str) -> str:
    """``--apiserver`` checked and without a trailing slash (InputError when not a URL)."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(
            f"--apiserver {value}: expected an apiserver URL such as https://10.0.0.11:6443"
        )
    return value.rstrip("/")


def fetch_metrics(config: SingleConfig, url: str | None = None, *, timeout: float = 10.0) -> str:
    """The text of ``GET <url>/metrics`` (``url`` None: the kubeconfig's server).

    A connection error, 429 or 5xx is retried (:class:`RetryTransport`) within ``timeout``.

    Raises:
        KubeUnavailable: no connection, a timeout, 429 or 5xx, still after the retries (exit 3).
        KubeForbidden: 403, with the RBAC rule the user lacks.
        KubeConfigError: 401 (credentials refused), a TLS certificate the kubeconfig's CA does
            not sign, or credentials lightkube cannot use.
        KubeError: any other answer that is not 200.
    """
    base = (url or config.cluster.server).rstrip("/")
    where = f"{base}/metrics"
    try:
        with _client(config, where, timeout) as client:
            response = client.get(where)
    except LightkubeConfigError as exc:
        problem = f"{where}: the kubeconfig's credentials are unusable ({exc})"
        raise KubeConfigError(problem) from None
    except KubeUnavailable as exc:  # the retries gave up; say where
        raise KubeUnavailable(f"{where}: {_after_colon(str(exc))}", status=exc.status) from None
    except httpx.TimeoutException:
        raise KubeUnavailable(f"{where}: no answer within {timeout:g}s") from None
    except httpx.TransportError as exc:
        raise KubeUnavailable(f"{where}: cannot connect ({_reason(exc)})") from None
    return _body(where, response)


def _client(config: SingleConfig, where: str, timeout: float) -> httpx.Client:
    """An httpx client with the kubeconfig's CA, client certificate and credentials."""
    if config.user is None:  # pragma: no cover - load_config always resolves a user
        raise KubeConfigError(f"context {config.context_name}: names no user")
    try:
        verify = verify_cluster(config.cluster, config.user, config.abs_file)
    except (OSError, ssl.SSLError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KubeConfigError(
            f"context {config.context_name}: cannot load its CA or client certificate "
            f"({detail}); check certificate-authority, client-certificate and client-key"
        ) from None
    inner = _TrustCheck(httpx.HTTPTransport(verify=verify), where)
    policy = RetryPolicy(attempts=3, total_seconds=timeout)
    return httpx.Client(
        transport=RetryTransport(inner, policy),
        auth=user_auth(config.user),
        timeout=httpx.Timeout(timeout),
    )


class _TrustCheck(httpx.BaseTransport):
    """An untrusted serving certificate is a setup error, not an outage: never retried."""

    def __init__(self, inner: httpx.BaseTransport, where: str) -> None:
        self.inner = inner
        self.where = where

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.inner.handle_request(request)
        except httpx.ConnectError as exc:
            if _certificate_refused(exc):
                raise KubeConfigError(
                    f"{self.where}: TLS certificate not trusted; the kubeconfig's "
                    "certificate-authority must sign the serving certificate of every apiserver "
                    "asked"
                ) from None
            raise

    def close(self) -> None:
        self.inner.close()


def _after_colon(message: str) -> str:
    """``GET /metrics: the apiserver cannot ...`` without the request (the URL replaces it)."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.startswith("GET ") else message


def _body(where: str, response: httpx.Response) -> str:
    status = response.status_code
    if status == 200:
        return response.text
    message = _status_message(response)
    if status == 401:
        raise KubeConfigError(
            f"{where}: 401 Unauthorized; the apiserver refused the kubeconfig's credentials",
        )
    if status == 403:
        raise KubeForbidden(
            f"{where}: {message or 'forbidden'}; {_RBAC_HINT}", status=403, reason="Forbidden"
        )
    if status == 429 or status >= 500:
        raise KubeUnavailable(f"{where}: HTTP {status} {message}".rstrip(), status=status)
    raise KubeError(f"{where}: HTTP {status} {message}".rstrip(), status=status)


def _status_message(response: httpx.Response) -> str:
    """A Kubernetes Status's message (it names user, verb and path), else the body's first line."""
    try:
        document = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    message = document.get("message") if isinstance(document, dict) else None
    return str(message) if message else ""


def _certificate_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
