"""Where ``sealbox seal`` finds the certificate it seals to, as kubeseal does.

``--cert`` (or ``SEALED_SECRETS_CERT``) names a PEM file, an ``http(s)://`` URL (fetched with
httpx's defaults, so ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` apply) or a ``file://`` URL.
Without it, the certificate comes from the live controller through the apiserver's service proxy
(:class:`sealbox.kube.SealingService`), found by ``--controller-name``/``--controller-namespace``
and the kubeconfig options.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sealbox.cli.io import read_input
from sealbox.cli.kube_options import KubeOptions
from sealbox.errors import InputError

__all__ = ["Controller", "certificate_pem", "public_key"]

_URL_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Controller:
    """The live controller: its Service and the cluster it runs in."""

    name: str
    namespace: str
    kube: KubeOptions

    def service(self) -> Any:
        """A :class:`sealbox.kube.SealingService` on it (a context manager)."""
        from sealbox.kube import SealingService

        return SealingService(self.kube.target(), name=self.name, namespace=self.namespace)

    def __str__(self) -> str:
        return f"controller service {self.namespace}/{self.name}"


def certificate_pem(
    cert: str | None, controller: Controller | None, flag: str = "--cert"
) -> tuple[bytes, str]:
    """The PEM bytes of the sealing certificate and a label naming where they came from
    (``flag``: the option that named ``cert``, for messages).

    Raises:
        InputError: the file is missing or the URL cannot be fetched.
        KubeError: (no ``--cert``) the controller cannot be reached.
    """
    if cert is None:
        if controller is None:
            raise InputError(f"{flag}: a certificate file or URL is needed here")
        with controller.service() as service:
            return service.certificate(), str(controller)
    scheme = urlsplit(cert).scheme.lower()
    if scheme in ("http", "https"):
        return _fetch(cert, flag), f"{flag} {cert}"
    if scheme == "file":
        return read_input(unquote(urlsplit(cert).path), flag), f"{flag} {cert}"
    return read_input(cert, flag), f"{flag} {cert}"


def public_key(cert: str | None, controller: Controller, flag: str = "--cert") -> Any:
    """The RSA public key to seal to (``SealError`` when expired or not RSA)."""
    from sealbox.sealing import load_certificate

    pem, source = certificate_pem(cert, controller, flag)
    certificate = load_certificate(pem, source)
    return certificate.key_for_sealing(datetime.datetime.now(datetime.UTC), source)


def _fetch(url: str, flag: str) -> bytes:
    import httpx2

    try:
        response = httpx2.get(url, follow_redirects=True, timeout=_URL_TIMEOUT)
    except httpx2.TimeoutException:
        raise InputError(f"{flag} {url}: no answer within {_URL_TIMEOUT:g}s") from None
    except httpx2.HTTPError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{flag} {url}: cannot fetch ({reason})") from None
    if response.status_code != 200:
        raise InputError(
            f"{flag} {url}: HTTP {response.status_code} {response.reason_phrase}; expected the "
            "PEM certificate"
        )
    return response.content
