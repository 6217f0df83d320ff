"""Fixtures for the conformance suite: one apiserver per KMS backend, shared by its modules.

The clusters live as long as this package's tests run (package scope), so the rest of the
suite does not carry four idle apiservers.

kube-apiserver asks its KMS v2 plugin for Status at start, then every 60 s, and on a ``/readyz``
hit whose cached answer is older than 20 s; only at such a call does it notice a new key_id. To
pay that wait once and mostly while other tests run, :func:`kms_clusters` rotates every backend's
KEK as soon as the clusters are up (after writing a few Secrets under the first KEK), and
``test_rotation.py`` (collected last) then waits for the apiservers to re-seed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.conformance.api import create_secret
from tests.conformance.clusters import BACKENDS, NAMESPACE, KmsCluster, Services, start_clusters
from tests.integration.backends.awskms import MotoKMS
from tests.integration.backends.vault import OpenBao
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import require_k8s_assets

__all__ = ["Rotated", "kms_clusters"]


@dataclass(frozen=True)
class Rotated:
    """One cluster just after its KEK was rotated: the key_id before, and the Secrets written
    under it (each must still read back once the apiserver has re-seeded)."""

    cluster: KmsCluster
    old_key_id: str
    old_secrets: tuple[str, ...]


@dataclass(frozen=True)
class Clusters:
    by_kind: dict[str, KmsCluster]
    rotated: dict[str, Rotated]


def _write_then_rotate(cluster: KmsCluster) -> Rotated:
    old_key_id = cluster.key_id()
    names = tuple(f"before-rotation-{i}" for i in range(2))
    for name in names:
        cluster.written[name] = create_secret(
            cluster.apiserver, NAMESPACE, name, {"password": secrets.token_hex(12)}
        )
    cluster.rotate()
    return Rotated(cluster, old_key_id, names)


@pytest.fixture(scope="package")
def kms_clusters(
    etcd_server: EtcdServer,
    openbao: OpenBao,
    moto_kms: MotoKMS,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Clusters]:
    """Every backend's cluster, started together; each KEK already rotated (see module doc)."""
    require_k8s_assets()
    services = Services(etcd_server, openbao, moto_kms, tmp_path_factory.mktemp("conformance"))
    with start_clusters(services, BACKENDS) as clusters:
        with ThreadPoolExecutor(len(clusters)) as pool:
            rotated = list(pool.map(_write_then_rotate, clusters.values()))
        yield Clusters(clusters, {r.cluster.kind: r for r in rotated})
