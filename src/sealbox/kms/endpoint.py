"""KMS plugin endpoints: ``unix:///path`` or ``unix:///@abstract`` → a grpc target.

Mirrors ``k8s.io/kms/pkg/util.ParseEndpoint``: the scheme must be ``unix``; the URL path is the
socket path; a path starting ``/@`` names a Linux abstract socket (no file, no permissions: it is
reachable by anything in the same network namespace).

A socket given as a path (``sealbox kms serve --socket``, plugin.yaml's ``socket``, ``sealbox kms
status --socket``) follows one rule, :func:`check_socket_path`: absolute, or ``@name``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sealbox.errors import InputError

__all__ = [
    "MAX_SOCKET_PATH",
    "check_socket_path",
    "endpoint_url",
    "grpc_target",
    "socket_path",
    "socket_target",
]

MAX_SOCKET_PATH = 107
"""The longest unix socket path Linux binds (``sun_path`` is 108 bytes with its NUL)."""


def check_socket_path(path: str) -> str:
    """``path`` if it names a socket to listen on or dial: absolute, or ``@name`` (abstract).

    Raises:
        ValueError: anything else; the message says what would be valid.
    """
    if (
        not path.startswith(("/", "@"))
        or path == "@"
        or len(path) > MAX_SOCKET_PATH
        or "\x00" in path
    ):
        raise ValueError(
            f"expected an absolute socket path (at most {MAX_SOCKET_PATH} bytes, e.g. "
            f"/var/run/sealbox/kms.sock) or @name for an abstract socket; got {path[:120]!r}"
        )
    return path


def socket_path(endpoint: str) -> str:
    """The dialled address: ``/var/run/kms.sock`` or ``@name`` for an abstract socket.

    Raises:
        InputError: not a ``unix`` URL, or it has no absolute path.
    """
    parsed = urlsplit(endpoint)
    if parsed.scheme != "unix":
        raise InputError(
            f"KMS endpoint {endpoint!r}: unsupported scheme {parsed.scheme!r}, only unix is "
            "supported (e.g. unix:///var/run/kms/plugin.sock or unix:///@abstract-name)"
        )
    path = parsed.path
    if path.startswith("/@"):
        if len(path) == 2:
            raise InputError(f"KMS endpoint {endpoint!r}: abstract socket name is empty")
        return path[1:]
    if not path.startswith("/"):
        raise InputError(
            f"KMS endpoint {endpoint!r}: the socket path must be absolute "
            "(e.g. unix:///var/run/kms/plugin.sock)"
        )
    return path


def grpc_target(endpoint: str) -> str:
    """The grpc channel target for an endpoint (``unix:///path`` or ``unix-abstract:name``)."""
    return socket_target(socket_path(endpoint))


def socket_target(path: str) -> str:
    """The grpc target that binds or dials socket ``path`` (``/p`` or ``@name``)."""
    if path.startswith("@"):
        return "unix-abstract:" + path[1:]
    return "unix://" + path


def endpoint_url(path: str) -> str:
    """The EncryptionConfiguration ``endpoint`` for socket ``path``: ``unix:///p``, ``unix:///@n``."""
    return "unix:///" + path if path.startswith("@") else "unix://" + path
