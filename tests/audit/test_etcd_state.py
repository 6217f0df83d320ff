"""The stored state of Secrets (SBX-410, SBX-411): a read-only scan of an in-memory etcd.

The live test (``test_live.py``) scans a real apiserver's etcd, where every Secret is plaintext;
here a store holds Secrets written under the old key, the new one and none, to check each count,
that stale needs the EncryptionConfiguration, and that no value or Secret data reaches a finding.
"""

from __future__ import annotations

import json

from sealbox.audit.etcd_state import scan_secrets
from sealbox.storage import DEFAULT_PREFIX
from tests.doubles.memory_kv import MemoryKV
from tests.ops.world import NEW, configmap_key, plaintext, secret_key, seed, transformers


def _store() -> MemoryKV:
    store = MemoryKV()
    seed(store, [secret_key(0), secret_key(1, "team-b")])  # under the old key: stale with NEW
    seed(store, [secret_key(2)], NEW)  # under the write key
    store.put(secret_key(3).encode(), plaintext(secret_key(3), "s3cr3t-marker-etcd-plain"))
    store.put(configmap_key(0).encode(), plaintext(configmap_key(0)))  # not a Secret
    return store


def test_plaintext_and_stale_secrets_are_counted_by_name() -> None:
    findings, section = scan_secrets(_store(), DEFAULT_PREFIX, transformers(NEW))
    by_id = {f.control.id: f for f in findings}
    assert sorted(by_id) == ["SBX-410", "SBX-411"]
    assert by_id["SBX-410"].details == {"count": 1, "secrets": ["team-a/s003"]}
    assert by_id["SBX-411"].details == {"count": 2, "secrets": ["team-a/s000", "team-b/s001"]}
    assert str(by_id["SBX-410"].location) == "etcd:/registry/secrets/"
    assert (section["total"], section["plaintext"], section["stale"]) == (4, 1, 2)
    text = json.dumps([f.message for f in findings]) + json.dumps(section)
    assert "s3cr3t-marker" not in text


def test_without_the_config_stale_is_not_known_and_not_reported() -> None:
    findings, section = scan_secrets(_store(), DEFAULT_PREFIX, endpoints="http://etcd:2379")
    assert [f.control.id for f in findings] == ["SBX-410"]
    assert section["stale"] is None
    assert section["endpoints"] == "http://etcd:2379"


def test_a_store_without_plaintext_or_stale_secrets_gives_no_finding() -> None:
    store = MemoryKV()
    seed(store, [secret_key(0)], NEW)
    assert scan_secrets(store, DEFAULT_PREFIX, transformers(NEW))[0] == []
