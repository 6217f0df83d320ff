"""One PKCS#11 worker process seen from the plugin: its pipes, the calls in flight, and pacing.

:class:`WorkerPipe` owns the two pipe descriptors to a worker started by
:class:`~sealbox.kms.backends.pkcs11._proxy.Pkcs11Proxy`: it frames requests
(:mod:`._wire` defines the frames), writes them in batches from the event loop, resolves
each call's future from the answers, times out a worker that stops answering, and fails every
call in flight exactly once when the worker goes away. :class:`Pacer` decides when a batch is
written (group commit under load; see the proxy's module docstring for the measurements).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import subprocess
import time

from sealbox.errors import BackendUnavailable
from sealbox.kms.backends.pkcs11 import _wire as wire

__all__ = ["GROUP_MIN_CALLS", "GROUP_WINDOW_SECONDS", "STOP_GRACE_SECONDS", "Pacer", "WorkerPipe"]

log = logging.getLogger("sealbox.kms.pkcs11")

STOP_GRACE_SECONDS = 5.0
GROUP_WINDOW_SECONDS = 0.001
GROUP_MIN_CALLS = 2
_REAP_INTERVAL_SECONDS = 0.05
_REAP_TRIES = 40
_READ_BYTES = 1 << 16


class Pacer:
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


class WorkerPipe:
    """One worker process, the pipes to it, and the calls in flight.

    The proxy owns both pipe ends as raw file descriptors: blocking until :meth:`bind` hands them
    to an event loop (non-blocking, ``add_reader``/``add_writer``), and closed exactly once by
    :meth:`lose`, whatever state that loop is in.
    """

    def __init__(
        self,
        label: str,
        process: subprocess.Popen[bytes],
        pipes: tuple[int, int],
        *,
        call_timeout: float,
    ) -> None:
        """``pipes`` are this end's descriptors: ``(to the worker's stdin, from its stdout)``."""
        self.label = label
        self.process = process
        self.alive = True
        self.reason = ""
        to_worker, from_worker = pipes
        self._to_worker = to_worker
        self._from_worker = from_worker
        self._call_timeout = call_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray()
        self._unsent = bytearray()  # what a full pipe did not take yet (a frame may be cut)
        # call_id -> (future, deadline, timeout): answers come in request order, so only the oldest
        # call's deadline matters, and it runs from when the worker could start on it.
        self._pending: dict[int, tuple[asyncio.Future[list[bytes]], float, float]] = {}
        self._outbox: list[bytes] = []
        self._flush_scheduled = False
        self._pacer = Pacer()
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

    def submit(
        self, code: int, fields: list[bytes], *, timeout: float | None = None
    ) -> asyncio.Future[list[bytes]]:
        """Queue one request; the future gets the answer's fields or its error.

        The worker is killed if it has not answered this request ``timeout`` seconds (the call
        timeout by default) after it could start on it: after it was sent, or after the answer
        to the request before it, whichever is later.
        """
        loop = self._loop
        assert loop is not None, "bind() first"
        future: asyncio.Future[list[bytes]] = loop.create_future()
        if not self.alive:
            future.set_exception(BackendUnavailable(self.reason))
            return future
        try:
            frame = wire.encode_frame(self._next_id, code, fields)
        except wire.FrameError as exc:  # cannot happen below the service's size limits
            future.set_exception(BackendUnavailable(f"{self.label}: {exc}"))
            return future
        limit = self._call_timeout if timeout is None else timeout
        if not self._pending and self._watchdog is None:
            self._watchdog = loop.call_later(limit, self._check_timeout)
        self._pending[self._take_id()] = (future, loop.time() + limit, limit)
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

    def submit_hello(self, document: bytes, *, timeout: float) -> asyncio.Future[list[bytes]]:
        """Queue HELLO (the first request of a worker started from the event loop): a new
        interpreter, a library load and a token login get ``timeout``, not the call timeout."""
        self._hello_id = self._next_id
        return self.submit(wire.HELLO, [document], timeout=timeout)

    def _loop_time(self) -> float:
        assert self._loop is not None
        return self._loop.time()

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
            frames = wire.split_frames(buffer)
        except wire.FrameError as exc:
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
            if pending:  # the worker made progress: the next call's time starts now
                oldest = next(iter(pending))
                future, deadline, limit = pending[oldest]
                pending[oldest] = (future, max(deadline, self._loop_time() + limit), limit)
            if code == wire.OK:
                entry[0].set_result(fields)
            else:
                error = wire.decode_error(code, fields)
                if call_id == self._hello_id:
                    self._start_error = " ".join(str(error).split())[:300]
                entry[0].set_exception(error)

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._pending or not self.alive:
            return
        loop = self._loop
        assert loop is not None
        _, deadline, limit = next(iter(self._pending.values()))  # the oldest call
        if deadline > loop.time():
            self._watchdog = loop.call_at(deadline, self._check_timeout)
            return
        log.error(
            "PKCS#11 worker did not answer in time; killing it",
            extra={"backend": self.label, "timeout_seconds": limit},
        )
        self.kill(f"{self.label}: the PKCS#11 library did not answer within {limit:g}s")

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
            for future, _, _ in pending.values():
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
        data = memoryview(wire.encode_frame(call_id, code, fields))
        try:
            while data:
                data = data[os.write(self._to_worker, data) :]
        except OSError:
            raise self._gone_sync() from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                frames = wire.split_frames(self._buffer)
            except wire.FrameError:
                self.kill(f"{self.label}: the PKCS#11 worker process sent malformed data")
                raise BackendUnavailable(self.reason) from None
            for answer_id, status, result in frames:
                if answer_id == call_id:
                    if status != wire.OK:
                        raise wire.decode_error(status, result)
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
