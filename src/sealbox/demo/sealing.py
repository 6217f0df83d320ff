"""The demo's sealing part: a Secret sealed for Git as kubeseal seals it, opened again by the key
the controller would hold, and the same value sealed for two clusters in the Sealbox envelope.

Offline on purpose: the controller needs a kube-apiserver, which ``make run`` does not start;
the format, the scope binding and the key ids are what this shows.
"""

from __future__ import annotations

import base64

from rich.console import Console

from sealbox.errors import UnsealFailed
from sealbox.render import table
from sealbox.sealing import (
    KeyRing,
    Scope,
    encode_value,
    envelope_key_ids,
    generate_key,
    label_for,
    seal_envelope,
    seal_secret,
    unseal_sealed_secret,
)

__all__ = ["show_sealing"]

DEMO_VALUE = "demo-token-not-a-real-secret"
_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "api-token", "namespace": "shop"},
    "stringData": {"token": DEMO_VALUE},
}


def show_sealing(console: Console) -> None:
    """Seal, open, move, and seal for two clusters; print what each step gives."""
    cluster = generate_key(bits=3072)
    other_cluster = generate_key(bits=3072)
    sealed = seal_secret(_SECRET, cluster.public_key)
    text = sealed["spec"]["encryptedData"]["token"]
    ring = KeyRing([cluster])
    secret = unseal_sealed_secret(sealed, ring.open)
    opened = base64.b64decode(secret["data"]["token"]).decode()
    moved = {**sealed, "metadata": {**sealed["metadata"], "namespace": "attacker"}}
    try:
        unseal_sealed_secret(moved, ring.open)
        moved_result = "opened (wrong!)"
    except UnsealFailed as exc:
        moved_result = f"refused: {exc.reason}"
    label = label_for(Scope.STRICT, "shop", "api-token")
    envelope = seal_envelope(
        [cluster.public_key, other_cluster.public_key], DEMO_VALUE.encode(), label
    )
    ids = envelope_key_ids(envelope)
    both = all(
        KeyRing([key]).open(envelope, label) == DEMO_VALUE.encode()
        for key in (cluster, other_cluster)
    )
    rows = [
        ["sealbox seal (as kubeseal)", f"encryptedData.token = {text[:24]}… ({len(text)} chars)"],
        [
            "the controller opens it",
            f"identical to the manifest: {'yes' if opened == DEMO_VALUE else 'no'}",
        ],
        ["copied to namespace attacker", moved_result],
        [
            "--recipients for 2 clusters",
            f"{encode_value(envelope)[:16]}… names keys {ids[0][:12]}…, {ids[1][:12]}…;"
            f" each cluster opens it: {'yes' if both else 'no'}",
        ],
    ]
    console.print(
        table(
            "Sealing for Git: a Secret sealed to the cluster's key, bound to its namespace/name",
            ["step", "result"],
            rows,
        )
    )
    console.print()
