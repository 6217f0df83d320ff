"""The ``pkcs11`` backend as ``sealbox kms serve`` runs it: a worker process, awaited on the loop.

:class:`Pkcs11Proxy` is the :class:`~sealbox.kms.backends.Backend` the plugin serves for a
``pkcs11`` entry. It keeps one worker process (:mod:`._worker`, which runs the ordinary
:class:`~._backend.Pkcs11Backend`) and talks to it over its stdin and stdout pipes, from the
plugin's event loop and with no thread of its own:

* Each call (``current_key_id``, ``wrap``, ``unwrap``) encodes a request, queues it and awaits a
  future. Every request
  queued during one event-loop iteration goes out in one write, at the end of that iteration;
  the worker answers each batch with one write, and the answers resolve their futures right in
  the loop's pipe callback. No thread hand-off, no GIL shared with the PKCS#11 library.
* Group commit under load (:class:`._pipe.Pacer`): gRPC hands the loop about one request per
  iteration, so per-iteration batches are mostly single calls, and each costs the worker (and the
  plugin) a wake-up. When calls arrive at :data:`GROUP_MIN_CALLS` or more per
  :data:`GROUP_WINDOW_SECONDS` (2 per millisecond: only then can waiting let another call join),
  a write waits until one window after the previous write, so each carries several calls;
  answers then come back in groups too, which gRPC also handles more cheaply. Slower or
  sequential callers are never held: their calls go out at the end of the iteration as above.
  So the cost is at most 1 ms of added wait, and only under a load where it pays for itself
  (``bench/kms_bench.py``, Decrypt at concurrency 16 on 2 CPUs: 15-25% more calls/s and a lower
  p50 than without it; concurrency 1 unchanged). ``GROUP_WINDOW_SECONDS = 0`` turns it off.
* ``owns`` stays a local check on the key_id (:mod:`._format`).
* Start: :meth:`Pkcs11Proxy.start` spawns the worker (``sys.executable -m ...``, never a fork of
  the plugin), sends HELLO (the config and ``base_dir``, never the PIN: the worker reads it from
  ``pinFile``/``pinEnv`` itself) and waits for the backend to start, so a wrong PIN or a missing
  token fails ``sealbox kms serve`` at startup exactly as the in-process backend does. The pipes
  (raw descriptors the proxy owns) are handed to the event loop of the first call, and stay with
  it: one proxy serves one event loop.
* Death: if the worker exits or its pipes break, every call in flight fails with
  :class:`~sealbox.errors.BackendUnavailable` and the next call starts a new worker (at most once
  per :data:`RESTART_MIN_SECONDS`; calls in between fail the same way), so health probes report
  the outage and the recovery as they would for a lost token. A worker that has not answered the
  oldest call in flight within ``CALL_TIMEOUT_SECONDS`` (30 s) is killed and treated the same.
* Stop: :meth:`Pkcs11Proxy.close` closes the worker's stdin; the worker logs out, finalizes the
  library and exits (killed after :data:`STOP_GRACE_SECONDS`). If the plugin itself dies, the
  kernel closes that pipe, so the worker never outlives the plugin.

Everything that is not the plugin (``sealbox kms rotate-key``, tests, library callers) uses the
in-process, blocking :class:`~._backend.Pkcs11Backend` from ``pkcs11.build``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sealbox.errors import BackendUnavailable
from sealbox.kms import Wrapped
from sealbox.kms.backends.pkcs11 import _format as fmt
from sealbox.kms.backends.pkcs11._config import Config
from sealbox.kms.backends.pkcs11._pipe import (
    GROUP_MIN_CALLS,
    GROUP_WINDOW_SECONDS,
    STOP_GRACE_SECONDS,
    WorkerPipe,
)
from sealbox.kms.backends.pkcs11._runtime import CALL_TIMEOUT_SECONDS
from sealbox.kms.backends.pkcs11._wire import (
    CURRENT_KEY_ID,
    HELLO,
    UNWRAP,
    WRAP,
    flatten,
    pairs,
)

__all__ = [
    "GROUP_MIN_CALLS",
    "GROUP_WINDOW_SECONDS",
    "RESTART_MIN_SECONDS",
    "STARTUP_TIMEOUT_SECONDS",
    "STOP_GRACE_SECONDS",
    "WORKER_COMMAND",
    "Pkcs11Proxy",
]

log = logging.getLogger("sealbox.kms.pkcs11")

WORKER_COMMAND = (sys.executable, "-m", "sealbox.kms.backends.pkcs11._worker")
STARTUP_TIMEOUT_SECONDS = 60.0
RESTART_MIN_SECONDS = 1.0


class Pkcs11Proxy:
    """A ``pkcs11`` backend whose PKCS#11 calls run in a worker process; natively async."""

    kind = "pkcs11"

    def __init__(
        self,
        config: Config,
        *,
        base_dir: Path,
        command: tuple[str, ...] = WORKER_COMMAND,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.base_dir = base_dir
        self.label = f"pkcs11 token {config.token_label!r} key {config.key_label!r}"
        self._prefix = fmt.key_id_prefix(config.token_label, config.key_label)
        self._command = command
        self._call_timeout = call_timeout
        self._clock = clock
        self._worker: WorkerPipe | None = None
        self._retired: list[WorkerPipe] = []
        self._spawned_at = float("-inf")
        self._closed = False

    def start(self) -> Pkcs11Proxy:
        """Spawn the worker and wait until its backend has logged in and found its KEK.

        Returns this proxy, ready to serve; on failure it is closed and nothing keeps running.

        Raises:
            ConfigError: the PIN file or variable is missing, unreadable or empty.
            AccessDenied: the token refused the PIN, or it is locked.
            BackendRejected: the token holds no KEK (see generateIfMissing).
            BackendUnavailable: the worker, the library or the token cannot be reached.
        """
        try:
            self._worker = self._spawn()
            self._worker.request_sync(HELLO, [self._hello()], STARTUP_TIMEOUT_SECONDS)
        except BaseException:
            self.close()
            raise
        return self

    # -- Backend (what the plugin awaits) -------------------------------------------------------

    async def current_key_id(self) -> str:
        """The worker backend's current key_id (it checks the token is there).

        Raises (here and in :meth:`wrap`, :meth:`unwrap`):
            BackendRejected, BackendUnavailable (AccessDenied), ConfigError: as the backend's
                method would;
                ``BackendUnavailable`` too when the worker is gone or does not answer in time.
        """
        (key_id,) = await self._submit(CURRENT_KEY_ID, [], 1)
        return key_id.decode()

    async def wrap(self, plaintext: bytes) -> Wrapped:
        return _wrapped(await self._submit(WRAP, [plaintext], None))

    async def unwrap(
        self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        fields = [ciphertext, key_id.encode(), *flatten(annotations)]
        (plaintext,) = await self._submit(UNWRAP, fields, 1)
        return plaintext

    async def _submit(self, code: int, fields: list[bytes], count: int | None) -> list[bytes]:
        worker = self._live_worker(asyncio.get_running_loop())
        result = await worker.submit(code, fields)
        if count is not None and len(result) != count:
            raise BackendUnavailable(f"{self.label}: the PKCS#11 worker sent a malformed answer")
        return result

    def _live_worker(self, loop: asyncio.AbstractEventLoop) -> WorkerPipe:
        if self._closed:
            raise BackendUnavailable(f"{self.label}: the backend is closed")
        worker = self._worker
        if worker is None or not worker.alive:
            worker = self._restart(loop, worker)
        worker.bind(loop)
        return worker

    def _restart(self, loop: asyncio.AbstractEventLoop, old: WorkerPipe | None) -> WorkerPipe:
        if self._clock() - self._spawned_at < RESTART_MIN_SECONDS:
            reason = old.reason if old is not None else "is not running"
            raise BackendUnavailable(
                f"{reason}; it is restarted at most once every {RESTART_MIN_SECONDS:g}s"
            )
        self._retired = [w for w in self._retired if w.process.returncode is None]
        if old is not None:
            self._retired.append(old)
        log.info("starting the PKCS#11 worker process", extra={"backend": self.label})
        worker = self._worker = self._spawn()
        worker.bind(loop)
        hello = worker.submit_hello(self._hello(), timeout=STARTUP_TIMEOUT_SECONDS)
        hello.add_done_callback(self._hello_answered)
        return worker

    def _hello_answered(self, future: asyncio.Future[list[bytes]]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:  # the calls behind it will say the same, or succeed later
            log.warning(
                "PKCS#11 worker could not start its backend",
                extra={"backend": self.label, "error": str(error)[:300]},
            )

    def owns(self, key_id: str) -> bool:
        return fmt.parse_key_id(key_id, self._prefix) is not None

    def close(self) -> None:
        """Stop the worker: close its stdin, wait for it to log out and exit (or kill it)."""
        self._closed = True
        workers = [*self._retired, *([self._worker] if self._worker is not None else [])]
        self._worker, self._retired = None, []
        for worker in workers:
            worker.stop(STOP_GRACE_SECONDS)

    @property
    def worker_pid(self) -> int | None:
        """The current worker's process id (for tests and debugging)."""
        return self._worker.process.pid if self._worker is not None else None

    def __repr__(self) -> str:
        return (
            f"Pkcs11Proxy(token={self.config.token_label!r}, key={self.config.key_label!r}, "
            f"worker={self.worker_pid})"
        )

    # -- helpers -----------------------------------------------------------------------------------

    def _spawn(self) -> WorkerPipe:
        self._spawned_at = self._clock()
        child_stdin, to_worker = os.pipe()  # close-on-exec: no other child inherits them
        from_worker, child_stdout = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self._command, stdin=child_stdin, stdout=child_stdout, close_fds=True
            )
        except OSError as exc:
            for fd in (to_worker, from_worker):
                os.close(fd)
            raise BackendUnavailable(
                f"{self.label}: cannot start the PKCS#11 worker process ({exc.strerror})"
            ) from None
        finally:
            os.close(child_stdin)
            os.close(child_stdout)
        return WorkerPipe(
            self.label, process, (to_worker, from_worker), call_timeout=self._call_timeout
        )

    def _hello(self) -> bytes:
        document = {
            "config": self.config.model_dump(mode="json", by_alias=True),
            "baseDir": str(self.base_dir),
            "logLevel": _log_level(),
        }
        return json.dumps(document).encode()


def _wrapped(fields: list[bytes]) -> Wrapped:
    if len(fields) < 2:
        raise BackendUnavailable("the PKCS#11 worker sent a malformed answer")
    try:
        return Wrapped(fields[0], fields[1].decode(), pairs(fields[2:]))
    except ValueError:
        raise BackendUnavailable("the PKCS#11 worker sent a malformed answer") from None


def _log_level() -> str:
    """The plugin's level for ``sealbox.*`` loggers, for the worker's own log lines."""
    level = logging.getLogger("sealbox").getEffectiveLevel()
    for name, at_most in (("debug", logging.DEBUG), ("info", logging.INFO)):
        if level <= at_most:
            return name
    return "warning" if level <= logging.WARNING else "error"
