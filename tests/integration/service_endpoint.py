"""A Service of the test apiserver whose endpoint is any HTTP server on this host.

The apiserver's service proxy (``/api/v1/namespaces/<ns>/services/http:<name>:<port>/proxy/...``)
is how kubeseal, and ``sealbox seal``, reach the sealing controller. With no kubelet and no
endpoint controller here, :func:`service_endpoint` makes what they would: a selector-less Service
with a named port, a Pod whose ``status.podIPs`` says ``host`` (it never runs; its status is
written as a kubelet would), and an Endpoints object naming ``host:port`` with a ``targetRef`` to
that Pod. kube-apiserver 1.36's proxy reads Endpoints (not EndpointSlices) and skips an address
without a Pod ``targetRef`` in the same namespace whose ``podIPs`` hold the address
("no endpoints available", 503).

kube-apiserver refuses to proxy to loopback and link-local addresses (``IsProxyableIP``), so the
server must listen on another address of this host: the session fixture ``proxyable_address``
finds one (a global-scope IPv4 address), else, as root, adds a private /32 to ``lo`` for the
session and removes it after; else the tests that need it skip, saying why.

Give it any server: a stand-in in a unit test, the real sealing controller's HTTP server later.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.integration.kube_apiserver import KubeApiserver

__all__ = ["ServiceEndpoint", "proxyable_address", "service_endpoint"]

_SPARE_ADDRESS = "10.254.254.254"  # a private /32 put on lo only when the host has no other


@dataclass(frozen=True)
class ServiceEndpoint:
    """The Service in front of ``host:port``, as a client of the proxy names it."""

    namespace: str
    name: str
    port_name: str
    host: str
    port: int

    @property
    def proxy_path(self) -> str:
        """``/api/v1/namespaces/<ns>/services/http:<name>:<port-name>/proxy``."""
        return (
            f"/api/v1/namespaces/{self.namespace}/services/http:{self.name}:{self.port_name}/proxy"
        )


def _global_ipv4() -> str | None:
    """An IPv4 address of this host that is neither loopback nor link-local."""
    ip = shutil.which("ip")
    if ip is None:
        return None
    result = subprocess.run(
        [ip, "-4", "-o", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            address = ipaddress.ip_interface(words[words.index("inet") + 1]).ip
            if not (address.is_loopback or address.is_link_local):
                return str(address)
    return None


def _bindable(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def proxyable_address() -> Iterator[str]:
    """An address of this host the apiserver agrees to proxy to (see the module docstring)."""
    found = _global_ipv4()
    if found is not None and _bindable(found):
        yield found
        return
    ip = shutil.which("ip")
    if ip is None or os.geteuid() != 0:
        pytest.skip(
            "the apiserver proxies only to non-loopback addresses, and this host has none "
            "(and cannot add one: needs root and iproute2)"
        )
    added = subprocess.run(
        [ip, "addr", "add", f"{_SPARE_ADDRESS}/32", "dev", "lo"],
        capture_output=True,
        text=True,
        check=False,
    )
    if added.returncode != 0:
        pytest.skip(f"no proxyable address, and `ip addr add` failed: {added.stderr.strip()}")
    try:
        yield _SPARE_ADDRESS
    finally:
        subprocess.run(
            [ip, "addr", "del", f"{_SPARE_ADDRESS}/32", "dev", "lo"],
            capture_output=True,
            check=False,
        )


@contextlib.contextmanager
def service_endpoint(
    apiserver: KubeApiserver,
    namespace: str,
    name: str,
    host: str,
    port: int,
    *,
    port_name: str = "http",
) -> Iterator[ServiceEndpoint]:
    """A Service ``namespace/name`` whose port ``port_name`` proxies to ``host:port``; deleted
    on exit. ``namespace`` needs its ``default`` ServiceAccount (``kube_namespace`` has it)."""
    pod = f"{name}-endpoint"
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": port_name, "port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "namespace": namespace},
            "spec": {"containers": [{"name": "server", "image": "registry.invalid/stand-in"}]},
        },
    ]
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace},
        "subsets": [
            {
                "addresses": [
                    {"ip": host, "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace}}
                ],
                "ports": [{"name": port_name, "port": port}],
            }
        ],
    }
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": [*objects, endpoints]})
    apiserver.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    status = {"status": {"podIP": host, "podIPs": [{"ip": host}]}}
    apiserver.kubectl(
        "patch",
        "pod",
        pod,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    apiserver.kubectl("apply", "-f", "-", stdin=json.dumps(endpoints))
    try:
        yield ServiceEndpoint(namespace, name, port_name, host, port)
    finally:
        apiserver.kubectl("delete", "-f", "-", "--wait=false", stdin=document, check=False)
