"""An etcd prefix whose Secrets and ConfigMaps were written under aescbc ``key1``, and an apiserver
that now writes with a new aesgcm key first (aescbc ``key1`` second, so it still reads them).

:func:`promoted_plane` is the state a rotation is in after its promote stage: every stored value
still under the old key, every apiserver writing with the new one. The first apiserver (old file)
writes the objects and stops; the second starts on the same etcd prefix with the new file.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conformance.api import StoredObjects, create_configmap, create_secret, etcd_values
from tests.conformance.clusters import encryption_config
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, require_k8s_assets, running_apiserver

__all__ = [
    "CONFIGMAPS",
    "NAMESPACE",
    "NEW_HEAD",
    "OLD_HEAD",
    "RESOURCES",
    "SECRETS",
    "Plane",
    "promoted_plane",
    "secret_name",
]

NAMESPACE = "default"
RESOURCES = ("secrets", "configmaps")
SECRETS = 200
CONFIGMAPS = 20
OLD_HEAD = b"k8s:enc:aescbc:v1:key1:"
NEW_HEAD = b"k8s:enc:aesgcm:v1:key2:"


def secret_name(i: int) -> str:
    return f"s-{i:03d}"


def _key(name: str, kind: str) -> dict[str, Any]:
    return {kind: {"keys": [{"name": name, "secret": base64.b64encode(os.urandom(32)).decode()}]}}


@dataclass
class Plane:
    """The promoted apiserver, its etcd and prefix, the config it runs, and what was written."""

    apiserver: KubeApiserver
    etcd: EtcdServer
    config: Path
    written: StoredObjects

    @property
    def prefix(self) -> str:
        return self.apiserver.etcd_prefix

    def stored(self) -> dict[str, bytes]:
        """Every stored Secret and ConfigMap value by etcd key, raw."""
        values: dict[str, bytes] = {}
        for resource in RESOURCES:
            values.update(etcd_values(self.etcd, f"{self.prefix}/{resource}/", prefix=True))
        return values


def _write_objects(server: KubeApiserver) -> StoredObjects:
    def secret(i: int) -> tuple[tuple[str, str, str], dict[str, str]]:
        name = secret_name(i)
        data = create_secret(server, NAMESPACE, name, {"v": secrets.token_hex(8)})
        return ("secrets", NAMESPACE, name), data

    def configmap(i: int) -> tuple[tuple[str, str, str], dict[str, str]]:
        name = f"cm-{i:03d}"
        return ("configmaps", NAMESPACE, name), create_configmap(
            server, NAMESPACE, name, {"v": str(i)}
        )

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(secret, range(SECRETS))) + list(pool.map(configmap, range(CONFIGMAPS)))
    return dict(made)


@contextlib.contextmanager
def promoted_plane(etcd: EtcdServer, directory: Path) -> Iterator[Plane]:
    """See the module docstring; the apiserver is stopped on exit."""
    require_k8s_assets()
    old_key, new_key = _key("key1", "aescbc"), _key("key2", "aesgcm")
    prefix = f"/registry-rotate-{secrets.token_hex(4)}"
    old = encryption_config(directory / "old.yaml", [old_key], RESOURCES)
    with running_apiserver(
        directory / "old", etcd, flags=[f"--encryption-provider-config={old}"], etcd_prefix=prefix
    ) as writer:
        written = _write_objects(writer)
    new = encryption_config(directory / "new.yaml", [new_key, old_key], RESOURCES)
    with running_apiserver(
        directory / "new", etcd, flags=[f"--encryption-provider-config={new}"], etcd_prefix=prefix
    ) as server:
        yield Plane(server, etcd, new, written)
