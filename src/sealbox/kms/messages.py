"""The KMS plugin API's messages, as both ends see them, with no transport.

kube-apiserver (and Sealbox's offline tools) call a plugin through the protocols in
:mod:`.services`; the plugin answers from its key backends. Both ends pass the same two shapes:

* :class:`Wrapped`: what Encrypt returns (and a key backend's wrap): ciphertext, key_id,
  annotations (``EncryptResponse`` in ``k8s.io/kms/apis/v2``);
* :class:`PluginStatus`: what Status returns (``StatusResponse``).

The names differ from the generated protobuf classes on purpose: these are plain values, the
protobuf messages live only where gRPC is spoken (:mod:`sealbox.kms.client`, the plugin's
servicers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["PluginStatus", "Wrapped"]


@dataclass(frozen=True, slots=True)
class Wrapped:
    """A wrapped secret, the key_id that wrapped it, and annotations to store beside it."""

    ciphertext: bytes = field(repr=False)
    key_id: str
    annotations: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PluginStatus:
    """A Status answer: API ``version`` (``v2``), ``healthz`` (``ok`` when healthy), ``key_id``."""

    version: str
    healthz: str
    key_id: str
