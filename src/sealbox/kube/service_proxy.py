"""The sealing controller's HTTP endpoints, reached through the apiserver's service proxy.

This is how kubeseal talks to the controller without any port of its own being reachable:
``/api/v1/namespaces/<ns>/services/http:<name>:<port-name>/proxy/v1/...``, the port name being
that of the Service's first port (looked up, as kubeseal does; ``http`` in the chart). The
kubeconfig's user needs ``get`` on the Service and ``create``/``get`` on ``services/proxy``.

- :meth:`SealingService.certificate`: ``GET /v1/cert.pem``, the newest sealing certificate;
- :meth:`SealingService.verify`: ``POST /v1/verify``, 200 when some key opens every item, 409
  when not;
- :meth:`SealingService.rotate`: ``POST /v1/rotate``, the SealedSecret re-sealed with the newest
  key (JSON, whatever the Content-Type says).

The plaintext never leaves the cluster: only SealedSecrets and certificates cross.
"""

from __future__ import annotations

import json
import ssl
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx2
from lightkube.config.client_adapter import user_auth, verify_cluster
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from sealbox.errors import KubeConfigError, KubeError, KubeNotFound, KubeUnavailable
from sealbox.kube.client import DEFAULT_TIMEOUT
from sealbox.kube.config import KubeTarget, load_config
from sealbox.kube.errors import as_kube_error
from sealbox.kube.retry import RetryPolicy, RetryTransport

__all__ = [
    "DEFAULT_CONTROLLER_NAME",
    "DEFAULT_CONTROLLER_NAMESPACE",
    "SealingService",
    "service_proxy_path",
]

DEFAULT_CONTROLLER_NAME = "sealed-secrets-controller"
DEFAULT_CONTROLLER_NAMESPACE = "kube-system"


def service_proxy_path(namespace: str, name: str, port_name: str) -> str:
    """``/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy`` (no trailing slash)."""
    service = quote(f"http:{name}:{port_name}", safe=":")
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/services/{service}/proxy"


class SealingService:
    """A client of one sealing controller's Service (use as a context manager: it holds
    connections).

    Raises (every method):
        KubeNotFound: no such Service (with a hint about ``--controller-name``).
        KubeForbidden: RBAC refuses the Service or ``services/proxy``.
        KubeUnavailable: the apiserver, or the controller behind the proxy, cannot answer.
        KubeConfigError: no usable kubeconfig, or its credentials are refused.
    """

    def __init__(
        self,
        target: KubeTarget | SingleConfig = KubeTarget(),
        *,
        name: str = DEFAULT_CONTROLLER_NAME,
        namespace: str = DEFAULT_CONTROLLER_NAMESPACE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        config = load_config(target) if isinstance(target, KubeTarget) else target
        self.name = name
        self.namespace = namespace
        self._client = _http_client(config, timeout)
        self._base: str | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def certificate(self) -> bytes:
        """The PEM of the controller's newest sealing certificate."""
        return self._send("GET", "/v1/cert.pem").content

    def verify(self, sealed_secret: bytes) -> bool:
        """Whether the controller can open every item of ``sealed_secret`` (JSON or YAML)."""
        response = self._send("POST", "/v1/verify", sealed_secret, accept=(409,))
        return response.status_code == 200

    def rotate(self, sealed_secret: bytes) -> dict[str, Any]:
        """``sealed_secret`` re-sealed by the controller with its newest key."""
        response = self._send("POST", "/v1/rotate", sealed_secret)
        try:
            document = json.loads(response.content)
        except ValueError:
            document = None
        if not isinstance(document, dict) or document.get("kind") != "SealedSecret":
            raise KubeError(f"POST {self._where('/v1/rotate')}: the answer is not a SealedSecret")
        return document

    def base_path(self) -> str:
        """The proxy path of the Service's first port (one lookup, then remembered)."""
        if self._base is None:
            path = f"/api/v1/namespaces/{quote(self.namespace, safe='')}/services/"
            path += quote(self.name, safe="")
            try:
                response = self._client.get(path)
                response.raise_for_status()
            except (httpx2.HTTPError, KubeUnavailable) as exc:
                error = exc if isinstance(exc, KubeUnavailable) else as_kube_error(exc)
                if isinstance(error, KubeNotFound):
                    raise KubeNotFound(
                        f"service {self.namespace}/{self.name}: not found; name the sealing "
                        "controller's Service with --controller-name and --controller-namespace "
                        "(the Helm chart calls it sealed-secrets), or seal offline with --cert",
                        status=404,
                        reason="NotFound",
                    ) from None
                raise error from None
            self._base = service_proxy_path(self.namespace, self.name, _first_port(response))
        return self._base

    def _where(self, endpoint: str) -> str:
        return f"service {self.namespace}/{self.name} {endpoint}"

    def _send(
        self, method: str, endpoint: str, body: bytes | None = None, accept: tuple[int, ...] = ()
    ) -> httpx2.Response:
        url = self.base_path() + endpoint
        try:
            response = self._client.request(method, url, content=body)
            if response.status_code not in accept:
                response.raise_for_status()
        except httpx2.HTTPError as exc:
            error: KubeError | KubeConfigError = as_kube_error(exc)
        except KubeUnavailable as exc:  # the retries gave up
            error = exc
        else:
            return response
        raise type(error)(
            f"{self._where(endpoint)}: {_without_request(str(error))}", **_details(error)
        ) from None


def _first_port(response: httpx2.Response) -> str:
    try:
        ports = response.json()["spec"]["ports"]
        name = ports[0].get("name") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise KubeError(
            "the sealing controller's Service has no port; it must expose the HTTP port"
        ) from None
    return str(name)


def _without_request(message: str) -> str:
    """``POST /api/v1/...: refused (...)`` without the long proxy path (the caller names it)."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.split(" ", 1)[0] in ("GET", "POST") else message


def _details(error: KubeError | KubeConfigError) -> dict[str, Any]:
    if isinstance(error, KubeError):
        return {"status": error.status, "reason": error.reason}
    return {}


def _http_client(config: SingleConfig, timeout: float) -> httpx2.Client:
    """An httpx client on the kubeconfig's server with its CA, client certificate and user."""
    if config.user is None:  # pragma: no cover - load_config always resolves a user
        raise KubeConfigError(f"context {config.context_name}: names no user")
    try:
        verify = verify_cluster(config.cluster, config.user, config.abs_file)
        auth = user_auth(config.user)
    except (OSError, ssl.SSLError, LightkubeConfigError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KubeConfigError(
            f"context {config.context_name}: cannot load its CA, client certificate or "
            f"credentials ({detail}); check certificate-authority, client-certificate and "
            "client-key"
        ) from None
    policy = RetryPolicy(attempts=3, total_seconds=timeout)
    return httpx2.Client(
        base_url=config.cluster.server,
        transport=RetryTransport(httpx2.HTTPTransport(verify=verify), policy),
        auth=auth,
        timeout=httpx2.Timeout(timeout),
    )
