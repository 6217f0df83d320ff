"""Where etcd is and how to reach it: ``--endpoints``, TLS files, timeout, answer size limit.

:class:`EtcdConfig` is checked when it is built, so a bad flag fails before anything connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sealbox.errors import InputError
from sealbox.storage.etcd._transport import parse_endpoint

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_MAX_RESPONSE_BYTES", "EtcdConfig", "parse_endpoints"]

DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def parse_endpoints(text: str) -> tuple[str, ...]:
    """Split a comma-separated ``--endpoints`` value (``a:2379,https://b:2379``)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    """Where etcd is and how to reach it; checked on construction (:class:`InputError`).

    ``endpoints`` are tried in order (``http://``, ``https://`` or bare ``host:port``). TLS is
    used when an endpoint is ``https://``, or when endpoints are bare ``host:port`` and
    ``cacert`` or a client pair is given. ``cacert`` defaults to the system roots; ``cert`` and
    ``key`` (a client certificate, as control planes require) go together. Each call gets
    ``timeout_seconds`` per endpoint tried. Answers larger than ``max_response_bytes`` are
    refused (scans shrink their pages instead).
    """

    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    timeout_seconds: float = 5.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        endpoints = self.endpoints
        if isinstance(endpoints, str):
            endpoints = parse_endpoints(endpoints)
        object.__setattr__(self, "endpoints", tuple(endpoints))
        if not self.endpoints:
            raise InputError("no etcd endpoints given; e.g. --endpoints https://127.0.0.1:2379")
        schemes = {parse_endpoint(text).scheme for text in self.endpoints} - {""}
        if schemes == {"http", "https"}:
            raise InputError("etcd endpoints mix http:// and https://; use one scheme for all")
        if (self.cert is None) != (self.key is None):
            raise InputError("--cert and --key go together: give both (a client pair) or neither")
        if schemes == {"http"} and (self.cacert or self.cert):
            raise InputError(
                "--cacert/--cert/--key are given but the etcd endpoints are http://; "
                "use https:// endpoints for TLS"
            )
        if not self.timeout_seconds > 0:
            raise InputError(f"etcd timeout must be positive, not {self.timeout_seconds!r}")
        if self.max_response_bytes < 1024 * 1024:
            raise InputError("max_response_bytes must be at least 1 MiB")

    @property
    def tls(self) -> bool:
        schemes = {parse_endpoint(text).scheme for text in self.endpoints}
        return "https" in schemes or bool(self.cacert or self.cert)
