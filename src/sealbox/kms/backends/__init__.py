"""Where the Sealbox plugin keeps its KEKs: one subpackage per backend, behind one narrow contract.

* :class:`Backend` (:mod:`.base`): what the plugin awaits: current key_id, wrap, unwrap, owns,
  close. :class:`BlockingBackend` is the same, synchronous; :class:`ThreadedBackend` serves one.
* The call's deadline (:mod:`.deadline`): :func:`call_deadline` sets it, :func:`time_left` and
  :func:`network_timeout` let a backend fit its network requests into it.
* The registry: :func:`configure_backend` validates a plugin.yaml ``backends`` entry into a
  :class:`ConfiguredBackend` that serves or rotates it; :data:`BACKEND_TYPES` names them.
* Backends: :mod:`.local` (keyring file), :mod:`.pkcs11` (HSM, tested with SoftHSM2),
  :mod:`.vault` (Vault/OpenBao transit), :mod:`.awskms` (AWS KMS). Each exports ``Config``, its
  backend class, ``build`` (the backend in this process) and ``KIND`` (its registry entry), and
  loads only when a config names it.
"""

from __future__ import annotations

from sealbox.kms.backends.base import Backend, BlockingBackend
from sealbox.kms.backends.deadline import (
    NETWORK_MARGIN_SECONDS,
    call_deadline,
    network_timeout,
    time_left,
)
from sealbox.kms.backends.kind import (
    BackendKind,
    BackendType,
    Builder,
    ConfiguredBackend,
    threaded_kind,
)
from sealbox.kms.backends.registry import BACKEND_TYPES, backend_type, configure_backend
from sealbox.kms.backends.settings import BackendSettings, SettingsModel, validation_issues
from sealbox.kms.backends.threads import ThreadedBackend

__all__ = [
    "BACKEND_TYPES",
    "NETWORK_MARGIN_SECONDS",
    "Backend",
    "BackendKind",
    "BackendSettings",
    "BackendType",
    "BlockingBackend",
    "Builder",
    "ConfiguredBackend",
    "SettingsModel",
    "ThreadedBackend",
    "backend_type",
    "call_deadline",
    "configure_backend",
    "network_timeout",
    "threaded_kind",
    "time_left",
    "validation_issues",
]
