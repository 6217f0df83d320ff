"""The Sealbox KMS v2 plugin: gRPC server, key backends, health and metrics.

kube-apiserver calls it through its KMS v2 framework so every stored Secret is envelope-encrypted
under a key-encryption key (KEK) that never leaves its backend.
"""

from __future__ import annotations

__all__: list[str] = []
