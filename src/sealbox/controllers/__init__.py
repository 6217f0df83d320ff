"""The controllers Sealbox runs in a cluster, each a subpackage on the runtime in
:mod:`sealbox.kube.runtime`: ``sealing`` unseals SealedSecrets into Secrets (the Sealed Secrets
controller's job, wire-compatible with it)."""

from __future__ import annotations

__all__: list[str] = []
