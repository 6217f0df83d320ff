"""What ``make run`` shows, on built-in defaults: real etcd, the real plugin, the real tools.

:func:`run_demo` is the walkthrough ``sealbox demo`` prints; :func:`running_services` starts the
throwaway etcd and KMS plugin it (and ``bench/``) works against.
"""

from __future__ import annotations

from sealbox.demo.services import DemoServices, running_services
from sealbox.demo.walkthrough import run_demo

__all__ = ["DemoServices", "run_demo", "running_services"]
