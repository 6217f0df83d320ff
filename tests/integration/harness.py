"""What every backend fixture gives the generic plugin tests in ``test_kms_serve.py``.

Each real backend (SoftHSM2, OpenBao, moto) has a module ``tests/integration/backends/<kind>.py``
with a pytest fixture ``<kind>_harness`` yielding a :class:`BackendHarness` for a backend that is
really running, on loopback ports and temp dirs it owns, and stopped afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BackendHarness:
    """A live backend and the levers a test needs.

    ``config`` is one entry of ``backends`` in a plugin.yaml (``{"type": "vault", ...}``), as
    parsed YAML. ``rotate`` makes the backend's current KEK change (a new version or key) while
    old ciphertext stays decryptable. ``stop``/``start`` take the backend away and bring it back
    with the same keys; ``None`` when the backend cannot be stopped (say why in ``no_outage``).
    ``env`` is extra environment the plugin process needs (e.g. ``SOFTHSM2_CONF``).
    """

    kind: str
    config: dict[str, Any]
    rotate: Callable[[], None]
    stop: Callable[[], None] | None = None
    start: Callable[[], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    no_outage: str = ""
