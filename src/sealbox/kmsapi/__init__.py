"""The KMS plugin gRPC API at the edge: clients the apiserver side uses, and a static-KEK plugin.

The encryption core only knows the protocols in :mod:`sealbox.encryption.envelope`; this package
is where grpc is imported.
"""

from __future__ import annotations

__all__: list[str] = []
