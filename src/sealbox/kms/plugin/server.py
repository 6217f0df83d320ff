"""The plugin process: unix socket lifecycle, gRPC server, probes, and graceful shutdown.

* The socket is created under umask 077 (so it is never world-accessible, not even briefly),
  then set to the configured mode (0600, or 0660 with a group).
* A leftover socket file is replaced only after checking nobody answers on it; a live server
  there, or a path that is not a socket, makes startup fail with a clear error.
* SIGTERM / SIGINT stop accepting calls, let in-flight calls finish (``grace`` seconds), remove
  the socket and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import grp
import logging
import os
import signal
import socket
import stat
from pathlib import Path

import grpc

from sealbox.errors import InputError
from sealbox.kms import key_id_hash, socket_target
from sealbox.kms.backends import Backend
from sealbox.kms.plugin.config import PluginConfig
from sealbox.kms.plugin.http import HealthHTTPServer
from sealbox.kms.plugin.service import PluginService
from sealbox.kms.plugin.servicers import add_servicers

__all__ = ["PluginServer", "prepare_socket", "serve"]

log = logging.getLogger("sealbox.kms.server")
SHUTDOWN_GRACE_SECONDS = 10.0


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(path)
        except OSError:
            return False
        return True


def prepare_socket(path: str) -> None:
    """Make ``path`` free to bind: remove a stale socket, refuse anything else.

    Raises:
        InputError: a live server answers there, it is not a socket, or its directory is missing.
    """
    if path.startswith("@"):
        if _answers("\0" + path[1:]):
            raise InputError(f"another server is already listening on abstract socket {path}")
        return
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"{path}: directory {target.parent} does not exist")
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise InputError(f"{path}: exists and is not a socket; refusing to replace it")
    if _answers(path):
        raise InputError(f"{path}: another server is already listening on this socket")
    log.info("removing stale socket", extra={"socket": path})
    target.unlink()


class PluginServer:
    """A running plugin: call :meth:`start`, then :meth:`stop` (or use :func:`serve`)."""

    def __init__(self, config: PluginConfig) -> None:
        self.config = config
        backends: list[Backend] = []
        try:  # a backend that fails to build must not leave the ones before it running
            for entry in (config.primary, *config.decrypt_only):
                backends.append(entry.serve(config.base_dir))
        except BaseException:
            for backend in backends:
                with contextlib.suppress(Exception):
                    backend.close()
            raise
        self.service = PluginService(
            backends[0],
            backends[1:],
            probe_interval=config.probe_interval_seconds,
            status_on_failure=config.status_on_failure,
        )
        self._grpc: grpc.aio.Server | None = None
        self._http: HealthHTTPServer | None = None
        self._bound = False  # the socket file is ours to remove

    @property
    def http_port(self) -> int | None:
        return self._http.port if self._http is not None else None

    async def start(self) -> None:
        """Bind the socket and serve; on any failure, stop what was started and re-raise.

        Raises:
            InputError: the socket path, its group or the metrics address cannot be used.
        """
        config = self.config
        prepare_socket(config.socket)
        gid = _group_id(config.socket_group)
        try:
            await self.service.start()
            self._grpc = await self._bind()
            if not config.socket.startswith("@"):
                if gid is not None:
                    os.chown(config.socket, -1, gid)
                os.chmod(config.socket, config.socket_mode)
            if (host_port := config.metrics_host_port) is not None:
                self._http = await self._listen(*host_port)
        except BaseException:
            await self.stop(grace=0)
            raise
        snapshot = self.service.health.snapshot
        log.info(
            "serving",
            extra={
                "socket": config.socket,
                "backend": self.service.primary.label,
                "healthy": snapshot.healthy,
                "key_id_hash": key_id_hash(snapshot.key_id) if snapshot.key_id else "",
                "metrics_port": self.http_port or "",
            },
        )

    async def _bind(self) -> grpc.aio.Server:
        server = grpc.aio.server()
        add_servicers(server, self.service, v1beta1=self.config.serve_v1beta1)
        old_umask = os.umask(0o077)  # the socket is never world-accessible, not even briefly
        try:
            server.add_insecure_port(socket_target(self.config.socket))
            await server.start()
        except RuntimeError as exc:  # grpc's "Failed to bind ..."
            await server.stop(0)
            raise InputError(f"socket {self.config.socket}: cannot listen ({exc})") from None
        finally:
            os.umask(old_umask)
        self._bound = True
        return server

    async def _listen(self, host: str, port: int) -> HealthHTTPServer:
        http = HealthHTTPServer(
            host, port, health=self.service.health, metrics=self.service.metrics
        )
        try:
            await http.start()
        except OSError as exc:
            raise InputError(
                f"metricsAddress {self.config.metrics_address}: cannot listen "
                f"({exc.strerror or exc}); choose a free host:port"
            ) from None
        return http

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace)
            self._grpc = None
        if self._http is not None:
            await self._http.stop()
            self._http = None
        await self.service.close()
        if self._bound and not self.config.socket.startswith("@"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.config.socket)
        self._bound = False
        log.info("stopped", extra={"socket": self.config.socket})


def _group_id(name: str | None) -> int | None:
    """The id of the socket's group, checked before anything is bound.

    Raises:
        InputError: no such group.
    """
    if name is None:
        return None
    if name.isdigit():
        return int(name)  # a gid needs no entry in /etc/group (a container's often has none)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise InputError(
            f"socketGroup {name!r}: no such group on this host; give a group name from "
            "/etc/group or a numeric gid"
        ) from None


async def serve(config: PluginConfig) -> None:
    """Run until SIGTERM or SIGINT, then drain and clean up."""
    server = PluginServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()  # stops what it started if it fails
    # Everything loaded so far (CLI, pydantic, SDKs) lives for the whole process: move it out of
    # the cyclic GC's reach so per-call garbage collections stay cheap.
    gc.freeze()
    try:
        await stop.wait()
        log.info("shutting down: draining in-flight calls")
    finally:
        await server.stop()
