"""Stored-state controls (SBX-41x): how the Secrets in etcd are actually protected.

A configuration says how new writes are encrypted; what etcd holds is what an attacker with a
copy of it (a backup, a disk, a snapshot) gets. A read-only scan of the Secrets' keys
(:func:`sealbox.ops.scan`, which classifies each value by its prefix and never keeps a value)
gives the counts these controls judge: values stored in plaintext, and, when the scan decrypted
with the apiserver's EncryptionConfiguration, values still under a key that is no longer the
write key (stale). Messages give counts and Secret names, never a value.
"""

from __future__ import annotations

from collections.abc import Sequence

from sealbox.audit.model import Control, Finding, Location, ObjectRef, Severity
from sealbox.words import plural

__all__ = ["CONTROLS", "PLAINTEXT_IN_ETCD", "STALE_IN_ETCD", "judge_stored"]

PLAINTEXT_IN_ETCD = Control(
    id="SBX-410",
    title="Secrets stored in plaintext in etcd",
    severity=Severity.CRITICAL,
    rationale=(
        "A value written while no encryption provider applied (or under identity) stays in "
        "plaintext until it is rewritten, whatever the configuration says now; anyone with a "
        "copy of etcd or of its backups reads it "
        "(https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/)."
    ),
    remediation=(
        "Encrypt Secrets with a kms v2 provider first, then rewrite every Secret (`sealbox etcd "
        "rewrap -c encryption-config.yaml --apply`, or kubectl get secrets -A -o json | kubectl "
        "replace -f -) and scan again."
    ),
    mappings=("kube-bench 1.2.27",),
)
STALE_IN_ETCD = Control(
    id="SBX-411",
    title="Secrets stored under a key that is no longer the write key",
    severity=Severity.MEDIUM,
    rationale=(
        "After a key rotation the old key must stay in the configuration until every value is "
        "rewritten; values still under it keep the old key in use and block its removal."
    ),
    remediation=(
        "Rewrite the stale Secrets (`sealbox etcd rewrap -c encryption-config.yaml --apply`) "
        "and scan again."
    ),
)

CONTROLS: tuple[Control, ...] = (PLAINTEXT_IN_ETCD, STALE_IN_ETCD)

_LISTED = 10  # Secret names listed in a message; the details hold them all


def judge_stored(
    where: Location, plaintext: Sequence[ObjectRef], stale: Sequence[ObjectRef] | None
) -> list[Finding]:
    """The findings for Secrets stored in plaintext and (None: not known) stale, at ``where``."""
    findings: list[Finding] = []
    for control, found, how in (
        (PLAINTEXT_IN_ETCD, plaintext, "stored in plaintext (identity)"),
        (STALE_IN_ETCD, stale or (), "stored under a key that is not the write key"),
    ):
        if not found:
            continue
        names = ", ".join(f"{ref.namespace}/{ref.name}" for ref in found[:_LISTED])
        more = f" and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
        message = f"{plural(len(found), 'Secret')} {how} in etcd: {names}{more}"
        details = {"count": len(found), "secrets": [f"{r.namespace}/{r.name}" for r in found]}
        findings.append(Finding(control, message, where, None, details))
    return findings
