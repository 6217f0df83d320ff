"""What the conformance tests ask of the apiserver and of etcd, in a few plain calls.

The apiserver is reached over its REST API with the admin's bearer token (``urllib``, so the tests
depend on nothing Sealbox itself might get wrong); etcd through ``etcdctl``, which prints raw
stored values (base64 in its JSON output, so binary values survive).
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from sealbox.encryption import EncryptedObject, parse_encrypted_object
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver

__all__ = [
    "StoredObjects",
    "api_request",
    "create_configmap",
    "create_secret",
    "etcd_values",
    "kms_record",
    "list_data",
    "replace_secret",
    "secret_data",
]

# {(resource, namespace, name): data as the API returns it (Secret values base64)}
StoredObjects = dict[tuple[str, str, str], dict[str, str]]


def api_request(
    server: KubeApiserver, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """One admin REST call; the status and the JSON answer (an HTTP error is a status)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {server.admin.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    context = ssl.create_default_context(cafile=str(server.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")


def _checked(server: KubeApiserver, method: str, path: str, body: Any = None) -> dict[str, Any]:
    status, answer = api_request(server, method, path, body)
    if status >= 300:
        raise AssertionError(f"{method} {path} answered {status}: {answer.get('message')}")
    return answer


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create_secret(
    server: KubeApiserver, namespace: str, name: str, values: dict[str, str]
) -> dict[str, str]:
    """Create a Secret; returns its ``data`` as the API stores it (base64 values)."""
    data = {key: _b64(value) for key, value in values.items()}
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}
    _checked(server, "POST", f"/api/v1/namespaces/{namespace}/secrets", body)
    return data


def replace_secret(
    server: KubeApiserver, namespace: str, name: str, values: dict[str, str]
) -> dict[str, str]:
    """Unconditionally replace a Secret's data (a new etcd write each time the data changes)."""
    data = {key: _b64(value) for key, value in values.items()}
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}
    _checked(server, "PUT", f"/api/v1/namespaces/{namespace}/secrets/{name}", body)
    return data


def create_configmap(
    server: KubeApiserver, namespace: str, name: str, values: dict[str, str]
) -> dict[str, str]:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": values}
    _checked(server, "POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    return dict(values)


def secret_data(server: KubeApiserver, namespace: str, name: str) -> dict[str, str]:
    """One Secret's ``data`` read back through the API."""
    answer = _checked(server, "GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
    return dict(answer.get("data") or {})


def list_data(server: KubeApiserver, *resources: str) -> StoredObjects:
    """Every object of ``resources`` (core v1, all namespaces) with its ``data``."""
    found: StoredObjects = {}
    for resource in resources:
        for item in _checked(server, "GET", f"/api/v1/{resource}")["items"]:
            meta = item["metadata"]
            found[(resource, meta["namespace"], meta["name"])] = dict(item.get("data") or {})
    return found


def etcd_values(etcd: EtcdServer, key: str, *, prefix: bool = False) -> dict[str, bytes]:
    """Raw stored values by etcd key, exactly as etcd holds them."""
    args = ["get", key, "-w", "json", *(["--prefix"] if prefix else [])]
    answer = json.loads(etcd.etcdctl(*args).stdout)
    return {
        base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
        for kv in answer.get("kvs", [])
    }


def kms_record(value: bytes, provider_name: str) -> EncryptedObject:
    """The KMS v2 EncryptedObject behind ``k8s:enc:kms:v2:<provider_name>:``."""
    head = f"k8s:enc:kms:v2:{provider_name}:".encode()
    if not value.startswith(head):
        raise AssertionError(f"stored value does not start with {head!r}: {value[:40]!r}")
    return parse_encrypted_object(value[len(head) :])
