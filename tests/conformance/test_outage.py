"""A KMS plugin outage seen from kube-apiserver: readiness fails, then recovers, nothing lost.

The apiserver's ``kms-providers`` readiness check calls the plugin's Status (a healthy answer is
trusted for 20 s, a failure for 3 s), so stopping the plugin turns ``/readyz`` red within about
20 s and restarting it turns it green again within seconds. The test waits on those answers.
Meanwhile writes still succeed (the apiserver keeps its current seed for 3 min after the last good
Status), and afterwards every Secret reads back, also through a fresh apiserver with no DEK cache,
which must have the restarted plugin Decrypt each DEK source.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.conformance.api import create_secret
from tests.conformance.clusters import NAMESPACE, KmsCluster, wait_plugin_serving
from tests.conformance.conftest import Clusters
from tests.integration.kube_apiserver import running_apiserver
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration
CHECK = "kms-providers"
# A healthy Status is cached for 20 s; under load the apiserver may take longer to look again.
OUTAGE_SEEN_SECONDS = 60.0


def _readyz(cluster: KmsCluster) -> tuple[int, str]:
    status, body = cluster.apiserver.get("/readyz?verbose", timeout=10.0)
    return status, body.decode(errors="replace")


def _check_line(cluster: KmsCluster) -> str:
    """The verbose readyz line of the KMS check (``[+]kms-providers ok`` when healthy)."""
    lines = [line for line in _readyz(cluster)[1].splitlines() if f"]{CHECK} " in line]
    assert len(lines) == 1, _readyz(cluster)[1]
    return lines[0]


def test_plugin_outage_fails_readiness_and_recovers_with_no_secret_lost(
    kms_clusters: Clusters, tmp_path: Path
) -> None:
    cluster = kms_clusters.by_kind["local"]
    name = f"before-outage-{secrets.token_hex(3)}"
    cluster.written[name] = create_secret(cluster.apiserver, NAMESPACE, name, {"k": name})
    assert _readyz(cluster)[0] == 200
    assert _check_line(cluster) == f"[+]{CHECK} ok"

    cluster.plugin.process.stop()
    try:
        wait_until(
            lambda: _check_line(cluster).startswith(f"[-]{CHECK} failed"),
            timeout=OUTAGE_SEEN_SECONDS,
            what=f"/readyz reporting {CHECK} failing",
        )
        assert _readyz(cluster)[0] == 500
        during = f"during-outage-{secrets.token_hex(3)}"
        cluster.written[during] = create_secret(cluster.apiserver, NAMESPACE, during, {"k": during})
    finally:
        cluster.plugin.process.start()
    wait_plugin_serving(cluster)
    wait_until(
        lambda: _readyz(cluster)[0] == 200,
        timeout=OUTAGE_SEEN_SECONDS,
        what="/readyz healthy again",
    )
    assert _check_line(cluster) == f"[+]{CHECK} ok"
    assert cluster.lost_secrets() == []
    after = f"after-outage-{secrets.token_hex(3)}"
    cluster.written[after] = create_secret(cluster.apiserver, NAMESPACE, after, {"k": after})
    assert cluster.lost_secrets() == []

    # The running apiserver may answer from its DEK cache; a fresh one on the same etcd prefix
    # has none, so it must ask the restarted plugin to Decrypt every DEK source.
    with running_apiserver(
        tmp_path / "fresh-reader",
        cluster.etcd,
        flags=[f"--encryption-provider-config={cluster.encryption_config}"],
        etcd_prefix=cluster.apiserver.etcd_prefix,
    ) as fresh:
        assert cluster.lost_secrets(fresh) == []
