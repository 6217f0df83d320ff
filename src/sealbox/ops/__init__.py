"""Jobs over stored values: decode one value, and (later) scan, decrypt and rewrap a keyspace."""

from __future__ import annotations

__all__: list[str] = []
