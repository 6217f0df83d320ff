"""kube-apiserver reads what Sealbox writes: values rewrapped offline, read back through the API.

An apiserver with an identity-first config writes Secrets and ConfigMaps (plaintext in etcd) and
stops. Then, one provider after another (aescbc, aesgcm, secretbox, kms v2 through a running
``sealbox kms serve``), ``sealbox etcd rewrap --apply`` re-encrypts every value offline, and an
apiserver started on the same etcd prefix with *only* that provider configured must read every
object back: it has no other way to read them than to decrypt what Sealbox wrote. ``sealbox etcd
scan`` and ``sealbox etcd decrypt`` must agree with the API's view of the same objects.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sealbox.kms.backends import local
from tests.conformance.api import (
    StoredObjects,
    create_configmap,
    create_secret,
    etcd_values,
    list_data,
)
from tests.conformance.clusters import encryption_config, kms_provider, sealbox_cli
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, require_k8s_assets, running_apiserver
from tests.integration.plugin_process import (
    RunningPlugin,
    metrics_address,
    run_plugin,
    write_plugin_config,
)
from tests.integration.processes import wait_until
from tests.kms_fixtures import socket_dir

pytestmark = pytest.mark.integration
RESOURCES = ("secrets", "configmaps")
TARGETS = ("aescbc", "aesgcm", "secretbox", "kms")
KMS_NAME = "sealbox-rewrap"
NAMESPACE = "default"
_KINDS = {"Secret": "secrets", "ConfigMap": "configmaps"}


@pytest.fixture(scope="module")
def plugin() -> Iterator[RunningPlugin]:
    """A local-keyring plugin for the kms v2 step (and for every config that lists it)."""
    with socket_dir() as workdir:
        local.create_keyring(workdir / "kek.key")
        address, port = metrics_address()
        config = write_plugin_config(
            workdir,
            str(workdir / "kms.sock"),
            {"type": "local", "keyFile": "kek.key"},
            metricsAddress=address,
        )
        with run_plugin(config, metrics_port=port) as running:
            yield running


def _static(kind: str) -> dict[str, Any]:
    secret = base64.b64encode(os.urandom(32)).decode()
    return {kind: {"keys": [{"name": "key1", "secret": secret}]}}


def _providers(plugin: RunningPlugin) -> dict[str, dict[str, Any]]:
    providers = {kind: _static(kind) for kind in TARGETS if kind != "kms"}
    providers["kms"] = kms_provider(KMS_NAME, plugin.socket)
    providers["identity"] = {"identity": {}}
    return providers


def _first(providers: dict[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Every provider, ``kind`` first (so it writes) and the others after it (so all read)."""
    return [providers[kind], *(p for k, p in providers.items() if k != kind)]


def _etcd_flags(etcd: EtcdServer, prefix: str) -> list[str]:
    return ["--endpoints", etcd.url, "--prefix", prefix]


def _resource_flags() -> list[str]:
    return [flag for resource in RESOURCES for flag in ("-r", resource)]


def _decrypted(config: Path, etcd: EtcdServer, prefix: str) -> StoredObjects:
    out = sealbox_cli(
        "etcd",
        "decrypt",
        "-c",
        str(config),
        "-o",
        "json",
        *_etcd_flags(etcd, prefix),
        *_resource_flags(),
    )
    found: StoredObjects = {}
    for item in json.loads(out)["items"]:
        meta = item["metadata"]
        found[(_KINDS[item["kind"]], meta["namespace"], meta["name"])] = dict(
            item.get("data") or {}
        )
    return found


@dataclass
class _Views:
    api: StoredObjects = field(default_factory=dict)
    decrypted: StoredObjects = field(default_factory=dict)


def _agreeing_views(reader: KubeApiserver, config: Path, etcd: EtcdServer, prefix: str) -> _Views:
    """The API's view and ``etcd decrypt``'s of every object, taken until they agree (the reader
    may still be writing its own kube-system ConfigMaps just after it became ready)."""
    views = _Views()

    def agree() -> bool:
        views.api = list_data(reader, *RESOURCES)
        views.decrypted = _decrypted(config, etcd, prefix)
        return views.api == views.decrypted and views.api == list_data(reader, *RESOURCES)

    try:
        wait_until(agree, timeout=30, what="the API and etcd decrypt agreeing")
    except TimeoutError:
        agree()  # once more outside the wait, so that a failing command shows its own error
    return views


def _scanned(config: Path, etcd: EtcdServer, prefix: str) -> list[dict[str, Any]]:
    out = sealbox_cli(
        "etcd",
        "scan",
        "-c",
        str(config),
        "-o",
        "json",
        *_etcd_flags(etcd, prefix),
        *_resource_flags(),
    )
    objects = json.loads(out)["objects"]
    assert isinstance(objects, list)
    return objects


def _write_objects(server: KubeApiserver) -> tuple[StoredObjects, list[str]]:
    """Three Secrets and three ConfigMaps; their data by key, and the plaintexts written."""
    expected: StoredObjects = {}
    plaintexts = []
    for i in range(3):
        value = f"rewrap-plaintext-{secrets.token_hex(12)}"
        plaintexts.append(value)
        name = f"rewrap-{i}"
        expected[("secrets", NAMESPACE, name)] = create_secret(
            server, NAMESPACE, name, {"value": value}
        )
        expected[("configmaps", NAMESPACE, name)] = create_configmap(
            server, NAMESPACE, name, {"value": value}
        )
    return expected, plaintexts


def _stored(etcd: EtcdServer, prefix: str) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    for resource in RESOURCES:
        values.update(etcd_values(etcd, f"{prefix}/{resource}/", prefix=True))
    return values


def test_apiserver_reads_values_rewrapped_offline_by_sealbox(
    etcd_server: EtcdServer, plugin: RunningPlugin, tmp_path: Path
) -> None:
    require_k8s_assets()
    providers = _providers(plugin)
    prefix = f"/registry-rewrap-{secrets.token_hex(4)}"
    config = encryption_config(
        tmp_path / "identity-first.yaml", _first(providers, "identity"), RESOURCES
    )
    with running_apiserver(
        tmp_path / "writer",
        etcd_server,
        flags=[f"--encryption-provider-config={config}"],
        etcd_prefix=prefix,
    ) as writer:
        expected, plaintexts = _write_objects(writer)
    stored = _stored(etcd_server, prefix)
    assert all(any(p.encode() in v for v in stored.values()) for p in plaintexts)  # identity

    for kind in TARGETS:
        config = encryption_config(
            tmp_path / f"{kind}-first.yaml", _first(providers, kind), RESOURCES
        )
        rewrap = ["etcd", "rewrap", "-c", str(config), "--apply", "-o", "json"]
        summary = json.loads(sealbox_cli(*rewrap, *_etcd_flags(etcd_server, prefix)))
        assert summary["failed"] == [], kind
        assert summary["rewritten"] >= len(expected), kind

        stored = _stored(etcd_server, prefix)
        head = f"k8s:enc:{kind}:v2:{KMS_NAME}:" if kind == "kms" else f"k8s:enc:{kind}:v1:key1:"
        assert all(value.startswith(head.encode()) for value in stored.values()), kind
        assert not any(p.encode() in v for p in plaintexts for v in stored.values()), kind
        scanned = _scanned(config, etcd_server, prefix)
        assert {o["key"] for o in scanned} == set(stored), kind
        assert all(o["decryptable"] and not o["stale"] for o in scanned), kind
        assert {o["provider"] for o in scanned} == {"kms-v2" if kind == "kms" else kind}, kind

        only = encryption_config(tmp_path / f"{kind}-only.yaml", [providers[kind]], RESOURCES)
        with running_apiserver(
            tmp_path / f"reader-{kind}",
            etcd_server,
            flags=[f"--encryption-provider-config={only}"],
            etcd_prefix=prefix,
        ) as reader:
            views = _agreeing_views(reader, config, etcd_server, prefix)
            assert views.decrypted == views.api, kind
            assert {k: views.api.get(k) for k in expected} == expected, kind
