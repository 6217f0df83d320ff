"""kube-apiserver with ``sealbox kms serve`` as its KMS v2 plugin, for every backend that runs here.

Secrets created through the API (with kubectl, as a user would) land in etcd as
``k8s:enc:kms:v2:<name>:`` records whose keyID is the plugin's, with no trace of the plaintext,
and every Secret written through the cluster reads back.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from tests.conformance.api import etcd_values, kms_record, list_data
from tests.conformance.clusters import BACKENDS, NAMESPACE
from tests.conformance.conftest import Clusters

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", BACKENDS)
def test_secrets_are_stored_as_kms_v2_records_and_read_back(
    kms_clusters: Clusters, kind: str
) -> None:
    cluster = kms_clusters.by_kind[kind]
    plaintexts = {f"stored-{i}": f"plaintext-{secrets.token_hex(16)}" for i in range(3)}
    for name, value in plaintexts.items():
        cluster.apiserver.kubectl(
            "create", "secret", "generic", name, "-n", NAMESPACE, f"--from-literal=token={value}"
        )
        cluster.written[name] = {"token": base64.b64encode(value.encode()).decode()}

    key_ids = {kms_clusters.rotated[kind].old_key_id, cluster.key_id()}  # rotation under way
    for name, value in plaintexts.items():
        raw = etcd_values(cluster.etcd, cluster.secret_key(name))[cluster.secret_key(name)]
        record = kms_record(raw, cluster.provider_name)
        assert record.key_id in key_ids
        assert record.key_id.startswith(f"{kind}:")
        for trace in (value.encode(), base64.b64encode(value.encode())):
            assert trace not in raw
        answer = cluster.apiserver.kubectl("get", "secret", name, "-n", NAMESPACE, "-o", "json")
        stored = base64.b64decode(json.loads(answer.stdout)["data"]["token"]).decode()
        assert stored == value

    listed = list_data(cluster.apiserver, "secrets")
    for name, data in cluster.written.items():
        assert listed[("secrets", NAMESPACE, name)] == data
    every_value = etcd_values(
        cluster.etcd, f"{cluster.apiserver.etcd_prefix}/secrets/", prefix=True
    ).values()
    assert all(
        v.startswith(f"k8s:enc:kms:v2:{cluster.provider_name}:".encode()) for v in every_value
    )
