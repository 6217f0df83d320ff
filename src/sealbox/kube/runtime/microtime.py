"""``metav1.MicroTime`` values for Lease and Event timestamps."""

from __future__ import annotations

import datetime

__all__ = ["micro_now"]


def micro_now() -> datetime.datetime:
    """Now in UTC. The apiserver parses MicroTime with exactly six fractional digits, and a
    datetime whose microsecond is 0 would be written without any, so that one is nudged by 1 µs."""
    now = datetime.datetime.now(datetime.UTC)
    return now if now.microsecond else now.replace(microsecond=1)
