"""Scan over the in-memory store: what it counts, how it classifies, its snapshot, its table."""

from __future__ import annotations

import pytest

from sealbox.ops import ScannedObject, ScanSummary, scan, scan_prefixes
from sealbox.render import print_scan_table
from sealbox.storage import DEFAULT_PREFIX
from tests.doubles.memory_kv import MemoryKV
from tests.ops.world import NEW, configmap_key, plaintext, secret_key, seed, transformers

KMS = """\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms: {apiVersion: v2, name: vault-kms, endpoint: 'unix:///kms.sock'}
"""
ODD_KEY = "/registry/secrets"  # a resource and no name: no object key at all


def _mixed_store() -> MemoryKV:
    """Secrets written by every kind of writer, a ConfigMap in plaintext, an odd key."""
    store = MemoryKV()
    seed(store, [secret_key(0), secret_key(1)])  # aesgcm "old"
    seed(store, [secret_key(2)], NEW)  # secretbox "new"
    seed(store, [secret_key(3)], KMS)  # kms-v2 "vault-kms"
    store.put(configmap_key(0).encode(), plaintext(configmap_key(0)))  # identity
    store.put(secret_key(4).encode(), b"k8s:enc:rot13:v1:k1:payload")  # no such provider
    store.put(secret_key(5).encode(), b"k8s:enc:aesgcm")  # cut short
    store.put(ODD_KEY.encode(), plaintext(secret_key(6)))
    return store


def _by_key(items: list[ScannedObject]) -> dict[str, ScannedObject]:
    return {item.key: item for item in items}


def test_classify_reads_the_prefix_only_and_counts_everything() -> None:
    store = _mixed_store()
    summary = ScanSummary()
    items = _by_key(list(scan(store, scan_prefixes(DEFAULT_PREFIX, []), summary=summary)))
    assert {key: (item.provider, item.key_name) for key, item in items.items()} == {
        secret_key(0): ("aesgcm", "old"),
        secret_key(1): ("aesgcm", "old"),
        secret_key(2): ("secretbox", "new"),
        secret_key(3): ("kms-v2", "vault-kms"),
        configmap_key(0): ("identity", ""),
        secret_key(4): ("unknown", "k1"),
        secret_key(5): ("unknown", ""),
        ODD_KEY: ("identity", ""),
    }
    assert all(item.decryptable is None and item.stale is None for item in items.values())
    assert items[secret_key(0)].as_dict() == {
        "key": secret_key(0),
        "resource": "secrets",
        "namespace": "team-a",
        "name": "s000",
        "provider": "aesgcm",
        "keyName": "old",
        "decryptable": None,
        "stale": None,
    }
    assert (items[ODD_KEY].resource, items[ODD_KEY].namespace, items[ODD_KEY].name) == (
        "",
        None,
        "secrets",
    )
    assert summary.total == 8
    assert summary.as_dict() == {
        "total": 8,
        "byProvider": {"aesgcm": 2, "identity": 2, "kms-v2": 1, "secretbox": 1, "unknown": 2},
        "plaintext": 2,
        "stale": None,  # not known: the scan did not decrypt
        "undecryptable": None,
        "prefixes": {"/registry/": 8},
    }
    assert summary.by_resource[("secrets", "aesgcm", "old")] == 2
    assert summary.by_resource[("", "identity", "")] == 1
    assert (summary.stale, summary.undecryptable) == (0, 0)


def test_verifying_decrypts_and_counts_stale_and_undecryptable() -> None:
    store = MemoryKV()
    seed(store, [secret_key(0), secret_key(1)])
    seed(store, [secret_key(2)], NEW)
    store.put(secret_key(3).encode(), plaintext(secret_key(3)))  # identity is not in NEW
    summary = ScanSummary()
    seen: list[str] = []
    items = _by_key(
        list(
            scan(
                store,
                [b"/registry/secrets/"],
                transformers=transformers(NEW),
                summary=summary,
                on_object=lambda item: seen.append(item.key),
            )
        )
    )
    assert seen == sorted(items)
    assert [(items[secret_key(i)].decryptable, items[secret_key(i)].stale) for i in range(4)] == [
        (True, True),
        (True, True),
        (True, False),
        (False, None),
    ]
    plain = items[secret_key(3)]
    assert (plain.provider, plain.key_name) == ("identity", "")
    assert plain.error is not None
    assert "identity is not in the chain" in plain.error
    assert not plain.error.startswith(secret_key(3))
    assert "error" in plain.as_dict()
    assert (summary.total, summary.stale, summary.undecryptable) == (4, 2, 1)
    document = summary.as_dict()
    assert (document["stale"], document["undecryptable"], document["plaintext"]) == (2, 1, 1)


def test_each_prefix_says_how_many_keys_it_held() -> None:
    store = MemoryKV()
    seed(store, [secret_key(0), secret_key(1), configmap_key(0)])
    summary = ScanSummary()
    prefixes = scan_prefixes(DEFAULT_PREFIX, ["secrets", "configmaps", "widgets.example.com"])
    assert len(list(scan(store, prefixes, summary=summary))) == 3
    assert summary.prefixes == {
        "/registry/configmaps/": 1,
        "/registry/example.com/widgets/": 0,
        "/registry/secrets/": 2,
    }
    assert summary.empty_prefixes == ["/registry/example.com/widgets/"]
    nothing = ScanSummary()
    assert list(scan(store, scan_prefixes("/regsitry", []), summary=nothing)) == []
    assert nothing.empty_prefixes == ["/regsitry/"]


def test_the_scan_reads_one_snapshot_and_reports_its_revision() -> None:
    store = MemoryKV(page_size=2)
    seed(store, [secret_key(i) for i in range(5)])
    snapshot = store.revision
    summary = ScanSummary()
    items = scan(store, [b"/registry/secrets/"], summary=summary)
    first = next(items)
    store.put(secret_key(9).encode(), plaintext(secret_key(9)))  # written mid-scan
    store.delete(secret_key(4).encode())
    rest = list(items)
    assert [item.key for item in [first, *rest]] == [secret_key(i) for i in range(5)]
    assert summary.revision == snapshot
    assert store.pages_read == 3


def test_the_scan_table(capsys: pytest.CaptureFixture[str]) -> None:
    store = MemoryKV()
    seed(store, [secret_key(0), secret_key(1)])
    seed(store, [configmap_key(0)], NEW)
    summary = ScanSummary()
    for _ in scan(store, [b"/registry/"], transformers=transformers(NEW), summary=summary):
        pass
    print_scan_table(summary, verified=True)
    out = capsys.readouterr().out
    assert "Objects by resource, provider and key" in out
    assert "total 3 (aesgcm: 2, secretbox: 1)" in out
    assert "stale 2, undecryptable 0" in out
    print_scan_table(ScanSummary(), verified=False)
    out = capsys.readouterr().out
    assert "total 0 (nothing found)" in out
    assert "stale" not in out
