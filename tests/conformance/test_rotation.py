"""KEK rotation seen from kube-apiserver: a new key_id is picked up at its Status poll.

``kms_clusters`` rotated every backend when it started (``sealbox kms rotate-key`` for the local
keyring and the SoftHSM2 token, a transit key rotation in OpenBao, the alias moved to a new key in
moto), so this test, collected after the others, only waits for the rest of the poll interval.
It waits on the event itself: a Secret rewritten through the apiserver until its stored keyID is
the new one (each probe also asks ``/readyz``, whose stale cached Status makes the apiserver ask
the plugin again, so the re-seed comes sooner than the 60 s loop would bring it). Then Secrets
written before the rotation still read back under the old keyID.
"""

from __future__ import annotations

import secrets
import time

import pytest

from tests.conformance.api import create_secret, etcd_values, kms_record, replace_secret
from tests.conformance.clusters import NAMESPACE, KmsCluster
from tests.conformance.conftest import Clusters, Rotated
from tests.integration.processes import wait_until

pytestmark = pytest.mark.integration
# The apiserver polls Status every 60 s (every 10 s after a failed poll) and when /readyz finds
# its cached answer older than 20 s; the plugins see a new KEK within their 1 s health probe.
RESEED_SECONDS = 100.0
PROBE_EVERY_SECONDS = 1.0
PROBE = "rotation-probe"


class _Reseeded:
    """Rewrites the probe Secret (at most once a second) until etcd holds it under the new
    key_id; then remembers that keyID."""

    def __init__(self, cluster: KmsCluster, new_key_id: str) -> None:
        self.cluster = cluster
        self.new_key_id = new_key_id
        self.stored_key_id = ""
        self._next = 0.0

    def __call__(self) -> bool:
        if self.stored_key_id == self.new_key_id:
            return True
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + PROBE_EVERY_SECONDS
        cluster, key = self.cluster, self.cluster.secret_key(PROBE)
        # A readiness check whose cached Status is older than 20 s asks the plugin again, and a
        # new key_id there re-seeds too: this only makes the wait shorter than the 60 s loop.
        cluster.apiserver.get("/readyz")
        data = replace_secret(cluster.apiserver, NAMESPACE, PROBE, {"n": secrets.token_hex(8)})
        cluster.written[PROBE] = data
        self.stored_key_id = kms_record(
            etcd_values(cluster.etcd, key)[key], cluster.provider_name
        ).key_id
        return self.stored_key_id == self.new_key_id


def _plugin_key_id_after(rotated: Rotated) -> str:
    """The plugin's key_id once it has noticed the rotation (its next health probe)."""
    cluster = rotated.cluster
    wait_until(
        lambda: cluster.key_id() != rotated.old_key_id,
        timeout=30,
        what=f"{cluster.kind} plugin reporting its rotated key_id",
    )
    return cluster.key_id()


def test_apiserver_reseeds_after_rotation_and_old_secrets_still_read(
    kms_clusters: Clusters,
) -> None:
    new_key_ids = {kind: _plugin_key_id_after(r) for kind, r in kms_clusters.rotated.items()}
    for kind, key_id in new_key_ids.items():
        assert key_id.startswith(f"{kind}:")

    for cluster in kms_clusters.by_kind.values():
        cluster.written[PROBE] = create_secret(cluster.apiserver, NAMESPACE, PROBE, {"n": "0"})
    probes = [_Reseeded(kms_clusters.by_kind[k], key_id) for k, key_id in new_key_ids.items()]
    wait_until(
        lambda: all([probe() for probe in probes]),
        timeout=RESEED_SECONDS,
        what="every apiserver writing with the rotated key_id",
    )

    for kind, rotated in kms_clusters.rotated.items():
        cluster = rotated.cluster
        fresh = f"after-rotation-{secrets.token_hex(3)}"
        cluster.written[fresh] = create_secret(cluster.apiserver, NAMESPACE, fresh, {"v": fresh})
        key = cluster.secret_key(fresh)
        assert (
            kms_record(etcd_values(cluster.etcd, key)[key], cluster.provider_name).key_id
            == (new_key_ids[kind])
        )
        for name in rotated.old_secrets:
            key = cluster.secret_key(name)
            old = kms_record(etcd_values(cluster.etcd, key)[key], cluster.provider_name)
            assert old.key_id == rotated.old_key_id
        assert cluster.lost_secrets() == []
