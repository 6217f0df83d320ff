"""The encryption state of the Secrets in etcd, for a live audit: a read-only scan of their keys.

:func:`scan_secrets` walks the ``secrets`` keys under the apiserver's ``--etcd-prefix`` with
:func:`sealbox.ops.scan` (range reads only, never a write), which classifies each value by its
``k8s:enc:`` prefix and, given the apiserver's EncryptionConfiguration, decrypts it to tell
whether it is stale. No value leaves the scan: only the provider, key name and the Secret's name,
judged by :func:`sealbox.audit.checks.judge_stored` (SBX-410, SBX-411).
"""

from __future__ import annotations

from typing import Any

from sealbox.audit.checks import judge_stored
from sealbox.audit.model import Finding, Location, ObjectRef
from sealbox.encryption import StorageTransformers
from sealbox.ops import ScanSummary, scan, scan_prefixes
from sealbox.storage import KeyValueReader

__all__ = ["scan_secrets"]


def scan_secrets(
    store: KeyValueReader,
    etcd_prefix: str,
    transformers: StorageTransformers | None = None,
    *,
    endpoints: str = "",
) -> tuple[list[Finding], dict[str, Any]]:
    """The stored-state findings and the report's ``etcd`` section (counts by provider)."""
    prefixes = scan_prefixes(etcd_prefix, ["secrets"])
    summary = ScanSummary()
    plaintext: list[ObjectRef] = []
    stale: list[ObjectRef] = []
    for item in scan(
        store, prefixes, etcd_prefix=etcd_prefix, transformers=transformers, summary=summary
    ):
        ref = ObjectRef("Secret", item.namespace, item.name)
        if item.provider == "identity":
            plaintext.append(ref)
        elif item.stale:
            stale.append(ref)
    where = Location(f"etcd:{prefixes[0].decode('utf-8', errors='replace')}")
    findings = judge_stored(where, plaintext, stale if summary.verified else None)
    section = {
        "endpoints": endpoints,
        "prefix": etcd_prefix,
        "read": "range reads of the secrets keys; values classified by prefix, never kept",
        **summary.as_dict(),
    }
    return findings, section
