"""The ``pkcs11`` backend as ``sealbox kms serve`` runs it: a worker process, awaited on the loop.

:class:`Pkcs11Proxy` is what :func:`sealbox.kms.backends.pkcs11.build_for_server` returns. It
keeps one worker process (:mod:`._pkcs11_worker`, which runs the ordinary
:class:`~sealbox.kms.backends.pkcs11.Pkcs11Backend`) and talks to it over its stdin and stdout
pipes, from the plugin's event loop and with no thread of its own:

* :meth:`Pkcs11Proxy.call` encodes the request, queues it and returns a future. Every request
  queued during one event-loop iteration goes out in one write, at the end of that iteration;
  the worker answers each batch with one write, and the answers resolve their futures right in
  the loop's pipe callback. No thread hand-off, no GIL shared with the PKCS#11 library.
* Group commit under load (:class:`_Pacer`): gRPC hands the loop about one request per
  iteration, so per-iteration batches are mostly single calls, and each costs the worker (and the
  plugin) a wake-up. When calls arrive at :data:`GROUP_MIN_CALLS` or more per
  :data:`GROUP_WINDOW_SECONDS` (2 per millisecond: only then can waiting let another call join),
  a write waits until one window after the previous write, so each carries several calls;
  answers then come back in groups too, which gRPC also handles more cheaply. Slower or
  sequential callers are never held: their calls go out at the end of the iteration as above.
  So the cost is at most 1 ms of added wait, and only under a load where it pays for itself
  (``bench/kms_bench.py``, Decrypt at concurrency 16 on 2 CPUs: 15-25% more calls/s and a lower
  p50 than without it; concurrency 1 unchanged). ``GROUP_WINDOW_SECONDS = 0`` turns it off.
* ``owns`` stays a local check on the key_id (:mod:`._pkcs11_format`).
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

The synchronous Backend methods (``current_key_id``, ``wrap``, ``unwrap``) work only until the
proxy has been used from an event loop (they do blocking pipe I/O and never restart a worker).
Everything else (``sealbox kms rotate-key``, tests, library callers) uses the in-process
:class:`~sealbox.kms.backends.pkcs11.Pkcs11Backend` from ``pkcs11.build``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sealbox.errors import BackendUnavailable
from sealbox.kms.backends import _pkcs11_format as fmt
from sealbox.kms.backends._pkcs11_config import Config
from sealbox.kms.backends._pkcs11_runtime import CALL_TIMEOUT_SECONDS
from sealbox.kms.backends._pkcs11_worker import (
    CURRENT_KEY_ID,
    HELLO,
    OK,
    UNWRAP,
    WRAP,
    FrameError,
    decode_error,
    encode_frame,
    flatten,
    pairs,
    split_frames,
)
from sealbox.kms.backends.base import Wrapped

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

WORKER_COMMAND = (sys.executable, "-m", "sealbox.kms.backends._pkcs11_worker")
STARTUP_TIMEOUT_SECONDS = 60.0
RESTART_MIN_SECONDS = 1.0
STOP_GRACE_SECONDS = 5.0
GROUP_WINDOW_SECONDS = 0.001
GROUP_MIN_CALLS = 2
_REAP_INTERVAL_SECONDS = 0.05
_REAP_TRIES = 40
_READ_BYTES = 1 << 16


class Pkcs11Proxy:
    """A ``pkcs11`` backend whose PKCS#11 calls run in a worker process; natively async."""

    kind = "pkcs11"
    blocking = False  # never blocks the event loop: see call()
    threads = 1

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
        self._worker: _Worker | None = None
        self._retired: list[_Worker] = []
        self._spawned_at = float("-inf")
        self._closed = False

    @classmethod
    def start(
        cls,
        config: Config,
        *,
        base_dir: Path,
        command: tuple[str, ...] = WORKER_COMMAND,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> Pkcs11Proxy:
        """Spawn the worker and wait until its backend has logged in and found its KEK.

        Raises:
            ConfigError: the PIN file or variable is missing, unreadable or empty.
            BackendRejected: the PIN is wrong, or the token holds no KEK (see generateIfMissing).
            BackendUnavailable: the worker, the library or the token cannot be reached.
        """
        proxy = cls(
            config, base_dir=base_dir, command=command, call_timeout=call_timeout, clock=clock
        )
        try:
            proxy._worker = proxy._spawn()
            proxy._worker.request_sync(HELLO, [proxy._hello()], STARTUP_TIMEOUT_SECONDS)
        except BaseException:
            proxy.close()
            raise
        return proxy

    # -- natively async (what the plugin uses) ---------------------------------------------------

    async def call(self, method: str, /, *args: object) -> object:
        """Run ``method`` (``current_key_id``, ``wrap`` or ``unwrap``) in the worker.

        Raises:
            BackendRejected, BackendUnavailable, ConfigError: as the backend's method would;
                ``BackendUnavailable`` too when the worker is gone or does not answer in time.
            ValueError: another method name.
        """
        if method == "unwrap":
            ciphertext, key_id, annotations = args
            assert isinstance(ciphertext, bytes)
            assert isinstance(key_id, str)
            assert isinstance(annotations, Mapping)
            fields = [ciphertext, key_id.encode(), *flatten(annotations)]
            (unwrapped,) = await self._submit(UNWRAP, fields, 1)
            return unwrapped
        if method == "wrap":
            (plaintext,) = args
            assert isinstance(plaintext, bytes)
            return _wrapped(await self._submit(WRAP, [plaintext], None))
        if method == "current_key_id":
            (key_id,) = await self._submit(CURRENT_KEY_ID, [], 1)
            return key_id.decode()
        raise ValueError(f"{self.label}: no such backend method {method!r}")

    async def _submit(self, code: int, fields: list[bytes], count: int | None) -> list[bytes]:
        worker = self._live_worker(asyncio.get_running_loop())
        result = await worker.submit(code, fields)
        if count is not None and len(result) != count:
            raise BackendUnavailable(f"{self.label}: the PKCS#11 worker sent a malformed answer")
        return result

    def _live_worker(self, loop: asyncio.AbstractEventLoop) -> _Worker:
        if self._closed:
            raise BackendUnavailable(f"{self.label}: the backend is closed")
        worker = self._worker
        if worker is None or not worker.alive:
            worker = self._restart(loop, worker)
        worker.bind(loop)
        return worker

    def _restart(self, loop: asyncio.AbstractEventLoop, old: _Worker | None) -> _Worker:
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
        worker.submit_hello(self._hello()).add_done_callback(self._hello_answered)
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

    # -- Backend protocol --------------------------------------------------------------------------

    def owns(self, key_id: str) -> bool:
        return fmt.parse_key_id(key_id, self._prefix) is not None

    def current_key_id(self) -> str:
        """Blocking; only before the proxy is used from an event loop (see the module docs)."""
        (key_id,) = self._request_sync(CURRENT_KEY_ID, [], 1)
        return key_id.decode()

    def wrap(self, plaintext: bytes) -> Wrapped:
        """Blocking; only before the proxy is used from an event loop (see the module docs)."""
        return _wrapped(self._request_sync(WRAP, [plaintext], None))

    def unwrap(self, ciphertext: bytes, key_id: str, annotations: Mapping[str, bytes]) -> bytes:
        """Blocking; only before the proxy is used from an event loop (see the module docs)."""
        fields = [ciphertext, key_id.encode(), *flatten(annotations)]
        (plaintext,) = self._request_sync(UNWRAP, fields, 1)
        return plaintext

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

    def _request_sync(self, code: int, fields: list[bytes], count: int | None) -> list[bytes]:
        if self._closed:
            raise BackendUnavailable(f"{self.label}: the backend is closed")
        worker = self._worker
        if worker is None or not worker.alive:
            reason = worker.reason if worker is not None else f"{self.label}: no worker"
            raise BackendUnavailable(reason)
        result = worker.request_sync(code, fields, self._call_timeout)
        if count is not None and len(result) != count:
            raise BackendUnavailable(f"{self.label}: the PKCS#11 worker sent a malformed answer")
        return result

    def _spawn(self) -> _Worker:
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
        return _Worker(self.label, process, to_worker, from_worker, self._call_timeout)

    def _hello(self) -> bytes:
        document = {
            "config": self.config.model_dump(mode="json", by_alias=True),
            "baseDir": str(self.base_dir),
            "logLevel": _log_level(),
        }
        return json.dumps(document).encode()


class _Pacer:
    """When to write queued requests: at the end of this loop iteration, or a bit later.

    Tracks the gap between calls as an exponentially weighted mean. While it says at least
    ``min_calls`` arrive per ``window``, a write waits for ``window`` after the previous one
    (group commit); otherwise it goes out at once (``None``). A long pause counts as at most ten
    windows, so the first calls after one are never held.
    """

    _WEIGHT = 1 / 8

    def __init__(
        self, window: float = GROUP_WINDOW_SECONDS, min_calls: int = GROUP_MIN_CALLS
    ) -> None:
        self.window = window
        self.min_calls = min_calls
        self.mean_gap = 10 * window
        self._last_call = float("-inf")
        self._last_write = float("-inf")

    def called(self, now: float) -> None:
        gap = min(now - self._last_call, 10 * self.window)
        self.mean_gap += (gap - self.mean_gap) * self._WEIGHT
        self._last_call = now

    def write_at(self, now: float) -> float | None:
        """When requests queued now should be written: a loop time, or None for right away."""
        due = self._last_write + self.window
        if due > now and self.mean_gap * self.min_calls < self.window:
            return due
        return None

    def wrote(self, now: float) -> None:
        self._last_write = now


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


class _Worker:
    """One worker process, the pipes to it, and the calls in flight.

    The proxy owns both pipe ends as raw file descriptors: blocking until :meth:`bind` hands them
    to an event loop (non-blocking, ``add_reader``/``add_writer``), and closed exactly once by
    :meth:`lose`, whatever state that loop is in.
    """

    def __init__(
        self,
        label: str,
        process: subprocess.Popen[bytes],
        to_worker: int,
        from_worker: int,
        call_timeout: float,
    ) -> None:
        self.label = label
        self.process = process
        self.alive = True
        self.reason = ""
        self._to_worker = to_worker
        self._from_worker = from_worker
        self._call_timeout = call_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray()
        self._unsent = bytearray()  # what a full pipe did not take yet (a frame may be cut)
        self._pending: dict[int, tuple[asyncio.Future[list[bytes]], float]] = {}
        self._outbox: list[bytes] = []
        self._flush_scheduled = False
        self._pacer = _Pacer()
        self._watchdog: asyncio.TimerHandle | None = None
        self._next_id = 1
        self._stopping = False
        self._hello_id: int | None = None
        self._start_error = ""  # what a failed HELLO said: the likely reason the worker exits

    def _take_id(self) -> int:
        call_id = self._next_id
        self._next_id = (call_id + 1) & 0xFFFFFFFF
        return call_id

    # -- on the event loop -------------------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the pipes to ``loop``, once; a proxy serves one event loop for its lifetime."""
        if self._loop is loop:
            return
        if self._loop is not None:
            raise RuntimeError(f"{self.label}: the PKCS#11 worker is bound to another event loop")
        self._loop = loop
        if not self.alive:
            return
        os.set_blocking(self._to_worker, False)
        os.set_blocking(self._from_worker, False)
        loop.add_reader(self._from_worker, self._readable)

    def submit(self, code: int, fields: list[bytes]) -> asyncio.Future[list[bytes]]:
        """Queue one request; the future gets the answer's fields or its error."""
        loop = self._loop
        assert loop is not None, "bind() first"
        future: asyncio.Future[list[bytes]] = loop.create_future()
        if not self.alive:
            future.set_exception(BackendUnavailable(self.reason))
            return future
        try:
            frame = encode_frame(self._next_id, code, fields)
        except FrameError as exc:  # cannot happen below the service's size limits
            future.set_exception(BackendUnavailable(f"{self.label}: {exc}"))
            return future
        if not self._pending and self._watchdog is None:
            self._watchdog = loop.call_later(self._call_timeout, self._check_timeout)
        self._pending[self._take_id()] = (future, loop.time() + self._call_timeout)
        self._outbox.append(frame)
        now = loop.time()
        self._pacer.called(now)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            at = self._pacer.write_at(now)
            if at is None:
                loop.call_soon(self._flush)  # after the rest of this iteration's calls
            else:
                loop.call_at(at, self._flush)
        return future

    def submit_hello(self, document: bytes) -> asyncio.Future[list[bytes]]:
        """Queue HELLO (the first request of a worker started from the event loop)."""
        self._hello_id = self._next_id
        return self.submit(HELLO, [document])

    def _exited(self) -> str:
        reason = f"{self.label}: the PKCS#11 worker process exited"
        if self._start_error:
            reason += f" after failing to start its backend ({self._start_error})"
        return reason

    def _flush(self) -> None:
        """Send every request queued since the last write, with one write."""
        self._flush_scheduled = False
        if not self._outbox or not self.alive:
            return
        outbox, self._outbox = self._outbox, []
        assert self._loop is not None
        self._pacer.wrote(self._loop.time())
        data = outbox[0] if len(outbox) == 1 else b"".join(outbox)
        if self._unsent:  # the pipe is full: queue behind what waits already
            self._unsent += data
            return
        try:
            written = os.write(self._to_worker, data)
        except BlockingIOError:
            written = 0
        except OSError:
            self.lose(self._exited())
            return
        if written < len(data):
            self._unsent += data[written:]
            assert self._loop is not None
            self._loop.add_writer(self._to_worker, self._writable)

    def _writable(self) -> None:
        try:
            written = os.write(self._to_worker, self._unsent)
        except BlockingIOError:
            return
        except OSError:
            self.lose(self._exited())
            return
        del self._unsent[:written]
        if not self._unsent:
            assert self._loop is not None
            self._loop.remove_writer(self._to_worker)

    def _readable(self) -> None:
        try:
            data = os.read(self._from_worker, _READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.lose(self._exited())
            return
        buffer = self._buffer
        buffer += data
        try:
            frames = split_frames(buffer)
        except FrameError as exc:
            log.error(
                "PKCS#11 worker sent malformed data; killing it",
                extra={"backend": self.label, "error": str(exc)},
            )
            self.kill(f"{self.label}: the PKCS#11 worker process sent malformed data")
            return
        pending = self._pending
        for call_id, code, fields in frames:
            entry = pending.pop(call_id, None)
            if entry is None or entry[0].done():  # cancelled by its caller meanwhile
                continue
            if code == OK:
                entry[0].set_result(fields)
            else:
                error = decode_error(code, fields)
                if call_id == self._hello_id:
                    self._start_error = " ".join(str(error).split())[:300]
                entry[0].set_exception(error)

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._pending or not self.alive:
            return
        loop = self._loop
        assert loop is not None
        _, deadline = next(iter(self._pending.values()))  # the oldest call: answers come in order
        if deadline > loop.time():
            self._watchdog = loop.call_at(deadline, self._check_timeout)
            return
        log.error(
            "PKCS#11 worker did not answer in time; killing it",
            extra={"backend": self.label, "timeout_seconds": self._call_timeout},
        )
        self.kill(
            f"{self.label}: the PKCS#11 library did not answer within {self._call_timeout:g}s"
        )

    def _reap(self, tries: int) -> None:
        code = self.process.poll()
        if code is not None:
            log.warning(
                "PKCS#11 worker process exited",
                extra={"backend": self.label, "exit_code": code, "pid": self.process.pid},
            )
            return
        if tries == _REAP_TRIES:  # closed its stdout but lingers: it is of no use any more
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_later(_REAP_INTERVAL_SECONDS, self._reap, tries + 1)

    # -- anywhere ----------------------------------------------------------------------------------

    def kill(self, reason: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.lose(reason)

    def lose(self, reason: str) -> None:
        """The worker is gone (or must go): fail what is in flight, close the pipes, reap it.

        Closing its stdin is also how a worker is told to stop: it exits at end of input.
        """
        if not self.alive:
            return
        self.alive = False
        self.reason = reason
        loop = self._loop
        usable = loop is not None and not loop.is_closed()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        pending, self._pending = self._pending, {}
        self._outbox, self._unsent = [], bytearray()
        if usable:
            for future, _ in pending.values():
                if not future.done():
                    future.set_exception(BackendUnavailable(reason))
        if loop is not None and usable:
            loop.remove_reader(self._from_worker)
            loop.remove_writer(self._to_worker)
        for fd in (self._to_worker, self._from_worker):
            with contextlib.suppress(OSError):
                os.close(fd)
        if usable and not self._stopping:
            self._reap(0)

    def stop(self, grace: float) -> None:
        """Close its stdin (the worker exits by itself), wait up to ``grace`` seconds, then kill."""
        self._stopping = True
        self.lose(f"{self.label}: the backend is closed")
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            log.warning(
                "PKCS#11 worker did not exit after its stdin closed; killing it",
                extra={"backend": self.label, "pid": self.process.pid},
            )
            self.process.kill()
            self.process.wait()

    def request_sync(self, code: int, fields: list[bytes], timeout: float) -> list[bytes]:
        """One call with blocking pipe I/O, before the pipes belong to an event loop."""
        if self._loop is not None:
            raise RuntimeError(
                f"{self.label}: the PKCS#11 worker is driven by an event loop; await call()"
            )
        if not self.alive:
            raise BackendUnavailable(self.reason)
        call_id = self._take_id()
        data = memoryview(encode_frame(call_id, code, fields))
        try:
            while data:
                data = data[os.write(self._to_worker, data) :]
        except OSError:
            raise self._gone_sync() from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                frames = split_frames(self._buffer)
            except FrameError:
                self.kill(f"{self.label}: the PKCS#11 worker process sent malformed data")
                raise BackendUnavailable(self.reason) from None
            for answer_id, status, result in frames:
                if answer_id == call_id:
                    if status != OK:
                        raise decode_error(status, result)
                    return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill(f"{self.label}: the PKCS#11 worker did not answer within {timeout:g}s")
                raise BackendUnavailable(self.reason)
            readable, _, _ = select.select([self._from_worker], [], [], remaining)
            if readable:
                chunk = os.read(self._from_worker, _READ_BYTES)
                if not chunk:
                    raise self._gone_sync()
                self._buffer += chunk

    def _gone_sync(self) -> BackendUnavailable:
        try:
            code: int | None = self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        self.lose(f"{self.label}: the PKCS#11 worker process exited (exit code {code})")
        return BackendUnavailable(self.reason)
