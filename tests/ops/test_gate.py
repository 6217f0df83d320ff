"""The scan gate: what fails it, that nothing to check fails it too, and what it reports."""

from __future__ import annotations

import pytest

from sealbox.errors import InputError
from sealbox.ops import (
    MAX_LISTED_FAILURES,
    FailOn,
    Gate,
    GateFailure,
    ScanSummary,
    scan,
    scan_prefixes,
)
from sealbox.storage import DEFAULT_PREFIX
from tests.doubles.memory_kv import MemoryKV
from tests.ops.world import NEW, configmap_key, plaintext, secret_key, seed, transformers


def _judge(
    store: MemoryKV,
    fail_on: list[FailOn],
    resources: list[str],
    *,
    decrypt: bool = False,
    allow_empty: bool = False,
    etcd_prefix: str = DEFAULT_PREFIX,
) -> tuple[Gate, ScanSummary]:
    gate = Gate.of(fail_on, allow_empty=allow_empty, decrypting=decrypt)
    summary = ScanSummary()
    items = scan(
        store,
        scan_prefixes(etcd_prefix, resources),
        etcd_prefix=etcd_prefix,
        transformers=transformers(NEW) if decrypt else None,
        summary=summary,
        on_object=gate.check,
    )
    for _ in items:
        pass
    return gate, summary


def _store() -> MemoryKV:
    """Two stale Secrets (aesgcm ``old``), one current, one plaintext, one undecryptable."""
    store = MemoryKV()
    seed(store, [secret_key(0), secret_key(1)])
    seed(store, [secret_key(2)], NEW)
    store.put(secret_key(3).encode(), plaintext(secret_key(3)))
    store.put(secret_key(4).encode(), b"k8s:enc:secretbox:v1:new:garbage")
    seed(store, [configmap_key(0)], NEW)
    return store


def test_plaintext_fails_and_names_the_key() -> None:
    gate, summary = _judge(_store(), [FailOn.plaintext], ["secrets"])
    verdict = gate.verdict(summary)
    assert not verdict.passed
    assert verdict.line() == "FAILED (--fail-on plaintext): 5 objects checked, 1 plaintext"
    assert verdict.failures == (
        GateFailure(secret_key(3), FailOn.plaintext, "stored in plaintext (identity)"),
    )
    clean, summary = _judge(_store(), [FailOn.plaintext], ["configmaps"])
    verdict = clean.verdict(summary)
    assert verdict.passed
    assert verdict.line() == "PASSED (--fail-on plaintext): 1 object checked, 0 plaintext"
    assert verdict.failures == ()


def test_stale_and_undecryptable_need_decryption_and_list_each_key() -> None:
    with pytest.raises(InputError, match="--fail-on stale/undecryptable needs --config"):
        Gate.of([FailOn.undecryptable, FailOn.stale], allow_empty=False, decrypting=False)
    gate, summary = _judge(
        _store(),
        [FailOn.undecryptable, FailOn.stale, FailOn.plaintext, FailOn.stale],
        ["secrets"],
        decrypt=True,
    )
    verdict = gate.verdict(summary)
    assert verdict.fail_on == (FailOn.plaintext, FailOn.stale, FailOn.undecryptable)
    assert verdict.line() == (
        "FAILED (--fail-on plaintext,stale,undecryptable): 5 objects checked, 1 plaintext, "
        "2 stale, 2 undecryptable"
    )
    by_key = {(f.key, f.fail_on): f.reason for f in verdict.failures}
    assert by_key[secret_key(0), FailOn.stale] == (
        "written by aesgcm old, not the first provider and key"
    )
    assert "identity is not in the chain" in by_key[secret_key(3), FailOn.undecryptable]
    assert (secret_key(4), FailOn.undecryptable) in by_key
    assert (secret_key(2), FailOn.stale) not in by_key
    document = verdict.as_dict()
    assert document["passed"] is False
    assert document["failOn"] == ["plaintext", "stale", "undecryptable"]
    assert document["checked"] == 5
    assert len(document["failures"]) == 5
    assert "garbage" not in str(document)


def test_a_gate_on_nothing_fails_unless_empty_is_allowed() -> None:
    store = _store()
    gate, summary = _judge(store, [FailOn.plaintext], [], etcd_prefix="/regsitry")
    verdict = gate.verdict(summary)
    assert not verdict.passed
    assert verdict.line().startswith(
        "FAILED (--fail-on plaintext): 0 objects checked, 0 plaintext; no keys under "
        "/regsitry/: a gate that checks nothing fails"
    )
    assert "--allow-empty" in verdict.line()
    allowed, summary = _judge(
        store, [FailOn.plaintext], [], etcd_prefix="/regsitry", allow_empty=True
    )
    verdict = allowed.verdict(summary)
    assert verdict.passed
    assert verdict.line() == (
        "PASSED (--fail-on plaintext): 0 objects checked, 0 plaintext; no keys under "
        "/regsitry/ (allowed by --allow-empty)"
    )


def test_one_named_resource_with_no_keys_fails_the_gate() -> None:
    gate, summary = _judge(_store(), [FailOn.plaintext], ["configmaps", "widgets.example.com"])
    verdict = gate.verdict(summary)
    assert not verdict.passed
    assert "no keys under /registry/example.com/widgets/" in verdict.line()


def test_the_list_of_failing_keys_is_bounded() -> None:
    store = MemoryKV(page_size=50)
    for index in range(MAX_LISTED_FAILURES + 7):
        key = secret_key(index)
        store.put(key.encode(), plaintext(key))
    gate, summary = _judge(store, [FailOn.plaintext], ["secrets"])
    verdict = gate.verdict(summary)
    assert len(verdict.failures) == MAX_LISTED_FAILURES
    assert verdict.unlisted == 7
    assert verdict.as_dict()["unlistedFailures"] == 7
    assert f"{MAX_LISTED_FAILURES + 7} plaintext" in verdict.line()
