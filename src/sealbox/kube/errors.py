"""From lightkube's and httpx2's exceptions to Sealbox's typed Kube* errors.

lightkube raises ``ApiError`` (an HTTP status with the apiserver's ``Status``) and lets httpx2's
transport errors through. Callers should not have to know either: :func:`kube_errors` wraps a
block of lightkube calls (sync or async) and re-raises what escapes as one of
:class:`~sealbox.errors.KubeNotFound`, :class:`~sealbox.errors.KubeConflict`,
:class:`~sealbox.errors.KubeForbidden`, :class:`~sealbox.errors.KubeGone`,
:class:`~sealbox.errors.KubeUnavailable` (or :class:`~sealbox.errors.KubeError` for the rest),
carrying the HTTP ``status`` and the Status ``reason``.

Messages name the request (method and path, never the query or a header) and what the apiserver
said. They never carry a token: neither lightkube nor the apiserver puts one in a Status, and no
header is ever formatted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
from lightkube.core.exceptions import ApiError
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from sealbox.errors import (
    KubeConfigError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeNotFound,
    KubeUnavailable,
)

__all__ = ["as_kube_error", "describe_request", "kube_errors"]

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]*)"'
    r' in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)?'
)


@contextmanager
def kube_errors() -> Iterator[None]:
    """Run a block of lightkube calls; what the API or the network raises leaves as a KubeError.

    A plain ``with`` works in async code too (the conversion needs no awaiting).
    """
    try:
        yield
    except KubeError:
        raise
    except (httpx2.HTTPError, LightkubeConfigError) as exc:
        raise as_kube_error(exc) from None


def as_kube_error(exc: httpx2.HTTPError | LightkubeConfigError) -> KubeError | KubeConfigError:
    """The typed error for one lightkube/httpx2 exception (see the module docstring)."""
    if isinstance(exc, LightkubeConfigError):
        return KubeConfigError(f"kubeconfig credentials: {exc}")
    where = _where(exc)
    if isinstance(exc, ApiError):
        status = exc.status
        code = int(status.code or (exc.response.status_code if _has_response(exc) else 0))
        return _from_status(where, code, status.reason or "", status.message or "")
    if isinstance(exc, httpx2.HTTPStatusError):
        response = exc.response
        status_body = _status_of(response)
        if status_body is not None:  # a Status lightkube did not decode (a raw request's)
            code = int(status_body.get("code") or response.status_code)
            reason, message = (
                str(status_body.get("reason", "")),
                str(status_body.get("message", "")),
            )
            return _from_status(where, code, reason, message)
        # An answer that is not a Status (a proxy's, a load balancer's)
        return _from_status(where, response.status_code, response.reason_phrase, _text(response))
    reason = type(exc).__name__
    return KubeUnavailable(
        f"{where}cannot reach the apiserver ({reason}: {_short(str(exc)) or 'no detail'}); is "
        "the kubeconfig's server right and the apiserver up?",
        reason=reason,
    )


def describe_request(request: httpx2.Request) -> str:
    """``GET /api/v1/namespaces/x/secrets``: the method and path, without query or headers."""
    return f"{request.method} {request.url.path}"


def _where(exc: httpx2.HTTPError) -> str:
    try:
        return f"{describe_request(exc.request)}: "
    except RuntimeError:  # no request attached (a watch ERROR event is decoded off the wire)
        return ""


def _status_of(response: httpx2.Response) -> dict[str, Any] | None:
    """The apiserver's Status in ``response``'s body, or None when it holds none."""
    try:
        body = json.loads(response.content)
    except (httpx2.ResponseNotRead, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("kind") == "Status" else None


def _text(response: httpx2.Response) -> str:
    """The start of a body that is not a Status ("" when it was never read: a watch's)."""
    try:
        return _short(response.text)
    except httpx2.ResponseNotRead:
        return ""


def _has_response(exc: ApiError) -> bool:
    try:
        return exc.response is not None
    except (AttributeError, RuntimeError):
        return False


def _from_status(where: str, code: int, reason: str, message: str) -> KubeError:
    said = f"{code} {reason}".strip() + (f": {message}" if message else "")
    details: dict[str, Any] = {"status": code, "reason": reason}
    if code == 404:
        return KubeNotFound(f"{where}not found ({said})", **details)
    if code == 409:
        if "Apply failed" in message:
            hint = "another field manager owns these fields; apply with force to take them over"
        elif reason == "AlreadyExists":
            hint = "it exists already"
        else:
            hint = "the object changed since it was read; read it again and retry"
        return KubeConflict(f"{where}conflict ({said}); {hint}", **details)
    if code == 403:
        return KubeForbidden(f"{where}{_forbidden(message, said)}", **details)
    if code == 410:
        return KubeGone(
            f"{where}gone ({said}); the resourceVersion is too old: list again", **details
        )
    if code == 429 or code >= 500:
        return KubeUnavailable(f"{where}the apiserver cannot serve now ({said})", **details)
    if code == 401:
        return KubeError(
            f"{where}unauthorized ({said}); the kubeconfig's credentials were refused", **details
        )
    return KubeError(f"{where}refused ({said})", **details)


def _forbidden(message: str, said: str) -> str:
    """RBAC's denial, rephrased: who may not do which verb on what, where."""
    found = _FORBIDDEN.search(message)
    if found is None:
        return f"forbidden ({said})"
    group = found["group"] or "core"
    where = (
        f'in namespace "{found["namespace"]}"' if found["namespace"] is not None else "cluster-wide"
    )
    return (
        f'forbidden: user "{found["user"]}" may not {found["verb"]} {found["resource"]} '
        f"(API group {group}) {where}; a Role or ClusterRole binding must grant it"
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
