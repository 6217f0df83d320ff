"""What ``make run`` shows, on built-in defaults: real etcd, the real plugin, the real tools."""

from __future__ import annotations

__all__: list[str] = []
