"""Reading the controller commands' flag values as upstream's Go flags read them.

Durations are Go's (``720h``, ``500ms``), the cutoff time is RFC1123 with a numeric zone as
``date -R`` prints it, addresses are ``[host]:port`` as ``net.Listen`` takes them, names are
Kubernetes names, and key metadata is upstream's comma-separated ``k=v``. Each reader raises
:class:`~sealbox.errors.InputError` naming the flag and what would be valid, so a bad value is
one ``error:`` line and exit 2 before anything starts.
"""

from __future__ import annotations

import datetime
import email.utils
from typing import Protocol

from sealbox.duration import NANOSECONDS_PER_SECOND, parse_go_duration
from sealbox.errors import InputError

__all__ = [
    "LeaseFlags",
    "address",
    "cutoff",
    "duration",
    "is_dns_label",
    "is_dns_subdomain",
    "key_metadata",
    "lease_timings",
    "namespaces",
    "seconds",
]

_LABEL_VALUE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def duration(flag: str, text: str, *, allow_zero: bool) -> datetime.timedelta | None:
    """A Go duration; None for 0 when ``allow_zero`` (the feature is off)."""
    try:
        nanos = parse_go_duration(text.strip())
    except ValueError:
        nanos = -1
    if nanos < 0 or (nanos == 0 and not allow_zero):
        lowest = "0 (off) or more" if allow_zero else "more than 0"
        raise InputError(f"--{flag} {text}: expected a duration of {lowest}, e.g. 720h or 30m")
    if nanos == 0:
        return None
    return datetime.timedelta(seconds=nanos / NANOSECONDS_PER_SECOND)


def seconds(flag: str, text: str) -> float:
    """A Go duration of more than 0, in seconds."""
    value = duration(flag, text, allow_zero=False)
    assert value is not None  # allow_zero=False never gives None
    return value.total_seconds()


def cutoff(text: str) -> datetime.datetime | None:
    """``--key-cutoff-time``: an aware datetime, or None when empty."""
    if not text.strip():
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(
            f"--key-cutoff-time {text}: expected RFC1123 with a numeric zone as `date -R` prints "
            "it, e.g. 'Mon, 02 Jan 2006 15:04:05 -0700'"
        )
    return moment


def address(flag: str, text: str) -> tuple[str, int] | None:
    """``[host]:port`` as Go's net.Listen takes it (``:8080``: every interface); "" is off."""
    if not text.strip():
        return None
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"--{flag} {text}: expected [host]:port, e.g. :8080 or 127.0.0.1:8080")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - Go's ":8080" listens everywhere
    return host, int(port)


def namespaces(text: str) -> tuple[str, ...]:
    """``--additional-namespaces``: comma-separated names, each once, in order."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if not is_dns_label(name):
            raise InputError(
                f"--additional-namespaces: {name!r} is not a namespace name (lowercase letters, "
                "digits and '-'; comma-separated)"
            )
    return names


def key_metadata(flag: str, text: str, *, label_values: bool) -> dict[str, str]:
    """``--privatekey-labels``/``--privatekey-annotations``: comma-separated ``k=v`` for the
    key Secrets; each key a Kubernetes qualified name (``[prefix/]name``), and with
    ``label_values`` each value a label value (63 characters of letters, digits, '-', '_', '.',
    starting and ending alphanumeric)."""
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _is_qualified_name(key):
            raise InputError(
                f"--{flag}: {key!r} is not a key=value with a Kubernetes key (e.g. "
                "team=security,example.com/owner=ops; comma-separated)"
            )
        if label_values and not _is_label_value(value):
            raise InputError(
                f"--{flag}: the value of {key} is not a label value (at most 63 letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit)"
            )
        pairs[key] = value
    return pairs


def is_dns_label(name: str) -> bool:
    """A namespace name: RFC 1123 label, lowercase."""
    return (
        0 < len(name) <= 63
        and name[0].isalnum()
        and name[-1].isalnum()
        and all(c.isdigit() or ("a" <= c <= "z") or c == "-" for c in name)
    )


def is_dns_subdomain(name: str, max_length: int = 240) -> bool:
    """An object name (dots allowed); 240 characters by default, so ``generateName`` fits."""
    return 0 < len(name) <= max_length and all(is_dns_label(p) for p in name.split("."))


def _is_label_value(value: str) -> bool:
    if not value:
        return True
    return (
        len(value) <= 63
        and value[0].isascii()
        and value[0].isalnum()
        and value[-1].isascii()
        and value[-1].isalnum()
        and set(value) <= _LABEL_VALUE_CHARS
    )


def _is_qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and not is_dns_subdomain(prefix, max_length=253):
        return False
    return bool(name) and _is_label_value(name)


class LeaseFlags(Protocol):
    """The leader-election durations every controller command takes, as given."""

    @property
    def leader_election_lease_duration(self) -> str: ...
    @property
    def leader_election_renew_deadline(self) -> str: ...
    @property
    def leader_election_retry_period(self) -> str: ...


def lease_timings(flags: LeaseFlags) -> dict[str, float]:
    """``--leader-election-lease-duration``, ``-renew-deadline`` and ``-retry-period`` in
    seconds, as :class:`~sealbox.kube.runtime.LeaseConfig`'s keywords; they must be ordered as
    client-go requires (retry < renew deadline < lease duration)."""
    timings = {
        "lease_duration_seconds": seconds(
            "leader-election-lease-duration", flags.leader_election_lease_duration
        ),
        "renew_deadline_seconds": seconds(
            "leader-election-renew-deadline", flags.leader_election_renew_deadline
        ),
        "retry_period_seconds": seconds(
            "leader-election-retry-period", flags.leader_election_retry_period
        ),
    }
    if not (
        timings["retry_period_seconds"]
        < timings["renew_deadline_seconds"]
        < timings["lease_duration_seconds"]
    ):
        raise InputError(
            "--leader-election-retry-period < --leader-election-renew-deadline < "
            "--leader-election-lease-duration must hold (defaults 2s < 10s < 15s)"
        )
    return timings
