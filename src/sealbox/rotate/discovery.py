"""Which apiservers a rotation must ask: the cluster's own list of them, or the kubeconfig's.

A Service named ``kubernetes`` in ``default`` fronts every apiserver of a cluster, and its
EndpointSlice (kept by the apiservers' endpoint reconciler, one address per live apiserver on the
secure port) is the one place a client can read them all. A cluster whose reconciler is off
publishes none; then the kubeconfig's server is the only apiserver known. A user who may not read
the slice is refused rather than given a guess: a gate that asked too few apiservers would open
while others still lag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lightkube.config.kubeconfig import SingleConfig

from sealbox.errors import KubeForbidden, KubeNotFound

__all__ = ["apiserver_urls", "discover_apiservers", "urls_from_endpoint_slice"]


def apiserver_urls(urls: Iterable[str]) -> list[str]:
    """``urls`` without trailing slashes and repeats, in their order."""
    seen: dict[str, None] = {}
    for url in urls:
        seen.setdefault(url.rstrip("/"), None)
    return list(seen)


def discover_apiservers(config: SingleConfig) -> list[str]:
    """Every apiserver of the cluster: ``https://<address>:<port>`` for each ready address of
    the ``kubernetes`` EndpointSlice in ``default``, else the kubeconfig's server.

    Raises:
        KubeForbidden: the user may not get EndpointSlices; the message says to name each
            apiserver with ``--apiserver`` instead (guessing one would let the gate pass with
            apiservers unasked).
        KubeUnavailable, KubeConfigError, KubeError: the apiserver cannot be asked.
    """
    from lightkube.resources.discovery_v1 import EndpointSlice

    from sealbox.kube import kube_errors, sync_client

    fallback = str(config.cluster.server).rstrip("/")
    try:
        with kube_errors():
            client = sync_client(config)
            try:
                found = client.get(EndpointSlice, "kubernetes", namespace="default")
            finally:
                client.close()
    except KubeNotFound:
        return [fallback]
    except KubeForbidden as exc:
        raise KubeForbidden(
            f"cannot read the kubernetes EndpointSlice in default to find the apiservers ({exc});"
            " name each apiserver with --apiserver URL, or grant get on "
            "endpointslices.discovery.k8s.io in default",
            status=exc.status,
            reason=exc.reason,
        ) from None
    return urls_from_endpoint_slice(found.to_dict()) or [fallback]


def urls_from_endpoint_slice(document: Mapping[str, Any]) -> list[str]:
    """The apiserver URLs an EndpointSlice (as a JSON document) names: each ready address (a
    missing ``ready`` counts as ready, as the API says consumers should read it) on the port
    named ``https``, else its only TCP port. Empty when it names none."""
    ports = [p for p in document.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP"]
    named = [p for p in ports if p.get("name") == "https"]
    chosen = named or (ports if len(ports) == 1 else [])
    if not chosen or not isinstance(chosen[0].get("port"), int):
        return []
    port = chosen[0]["port"]
    urls = []
    for endpoint in document.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False:
            continue
        for address in endpoint.get("addresses") or []:
            host = f"[{address}]" if ":" in address else address
            urls.append(f"https://{host}:{port}")
    return apiserver_urls(urls)
