"""The PKCS#11 worker process: one ``pkcs11`` backend, in an interpreter of its own, for the plugin.

Why a process: python-pkcs11 releases the GIL around every PKCS#11 C call, and inside the plugin
each re-acquire waited for the event-loop thread, which is busy running gRPC. Here the backend
has a GIL of its own; the plugin's event loop talks to it over two pipes (:mod:`._proxy`),
with no thread of its own, so answers land on the loop without a thread hand-off.

Started by the plugin as ``python -m sealbox.kms.backends.pkcs11._worker`` (spawned, never forked
from the plugin: gRPC does not survive ``fork``), stdin and stdout are pipes to the plugin, stderr
is the plugin's own (the worker logs there, in the same JSON lines). Nothing secret is in argv:
the worker reads the PIN itself, from ``pinFile`` or ``pinEnv`` (the environment is inherited).

The frames it reads and writes are :mod:`._wire`'s.

Lifecycle:

1. The first frame must be HELLO. The worker validates the config, reads the PIN and opens the
   backend; if that fails it answers the error and exits 1. Then it starts the backend (log in,
   find or generate the KEK) and answers the outcome; a failed start does not end the worker:
   later calls retry, as the in-process backend would (a token that comes back is used again).
2. Then, on the process's single PKCS#11 thread (:mod:`._runtime`), it loops: read what
   the plugin has sent, run those requests in order, write all their answers with one write.
   The plugin sends all calls of one event-loop iteration with one write, so batches form by
   themselves under load.
3. End of stdin (the plugin closed it, or died) ends the loop at a frame boundary: the worker logs
   out, finalizes the library and exits 0. SIGINT and SIGTERM are ignored, so a Ctrl-C or a
   supervisor signalling the whole process group cannot kill it before the plugin has drained
   its in-flight calls; a plugin that dies closes the pipe, so the worker never outlives it.
4. Bytes that break the framing (a length out of bounds, a field crossing its frame's end, input
   ending inside a frame, a first frame that is not HELLO) cannot be resynchronized: one log
   line, exit 2. A well-framed request of an unknown type or shape is answered as an error.

fd 1 is pointed at stderr once the worker has kept the pipe for itself, so a stray ``print`` in
a library cannot corrupt the frame stream.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from sealbox.errors import ConfigError, KMSPluginError, SealboxError
from sealbox.kms.backends.pkcs11._backend import Pkcs11Backend, open_backend
from sealbox.kms.backends.pkcs11._config import Config
from sealbox.kms.backends.pkcs11._runtime import RUNTIME
from sealbox.kms.backends.pkcs11._wire import (
    CURRENT_KEY_ID,
    EXIT_BAD_INPUT,
    EXIT_NO_BACKEND,
    HELLO,
    OK,
    UNWRAP,
    WRAP,
    Frame,
    FrameError,
    encode_error,
    encode_frame,
    flatten,
    pairs,
    split_frames,
)
from sealbox.kms.backends.settings import validation_issues
from sealbox.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("sealbox.kms.pkcs11.worker")

_READ_BYTES = 1 << 16


class _PluginGone(Exception):
    """Writing an answer failed: the plugin closed its end."""


class _Pipe:
    """Blocking frame I/O on two file descriptors."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._buffer = bytearray()

    def read(self) -> list[Frame] | None:
        """The next frames (at least one), or None at the end of input at a frame boundary.

        Raises:
            FrameError: malformed input, or input ending inside a frame.
        """
        while True:
            data = os.read(self._read_fd, _READ_BYTES)
            if not data:
                if self._buffer:
                    raise FrameError(f"input ended inside a frame ({len(self._buffer)} bytes)")
                return None
            self._buffer += data
            frames = split_frames(self._buffer)
            if frames:
                return frames

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._write_fd, view) :]
        except OSError as exc:
            raise _PluginGone from exc


def _answer(backend: Pkcs11Backend, frame: Frame) -> bytes:
    call_id, code, fields = frame
    try:
        if code == UNWRAP and len(fields) >= 2:
            try:
                key_id, annotations = fields[1].decode(), pairs(fields[2:])
            except ValueError:
                raise KMSPluginError("malformed UNWRAP request") from None
            result = [backend.unwrap(fields[0], key_id, annotations)]
        elif code == WRAP and len(fields) == 1:
            wrapped = backend.wrap(fields[0])
            result = [wrapped.ciphertext, wrapped.key_id.encode(), *flatten(wrapped.annotations)]
        elif code == CURRENT_KEY_ID and not fields:
            result = [backend.current_key_id().encode()]
        else:
            raise KMSPluginError(f"malformed request (type 0x{code:02x} with {len(fields)} fields)")
    except Exception as exc:
        if not isinstance(exc, SealboxError):
            log.exception("PKCS#11 worker: call failed unexpectedly")
        return encode_error(call_id, exc)
    return encode_frame(call_id, OK, result)


def _serve(pipe: _Pipe, backend: Pkcs11Backend, frames: list[Frame]) -> None:
    """The request loop; runs on the PKCS#11 thread, so every backend call runs in place."""
    while True:
        if frames:
            pipe.write(b"".join([_answer(backend, frame) for frame in frames]))
        batch = pipe.read()
        if batch is None:
            return
        frames = batch


def _open(document: bytes) -> tuple[Pkcs11Backend, Config]:
    """Validate HELLO's document, configure logging, read the PIN and open the backend."""
    try:
        hello = json.loads(document)
    except (UnicodeDecodeError, ValueError):
        raise KMSPluginError("malformed HELLO (not JSON)") from None
    if not (
        isinstance(hello, dict)
        and isinstance(hello.get("config"), dict)
        and isinstance(hello.get("baseDir"), str)
        and hello.get("logLevel") in ("debug", "info", "warning", "error", "critical")
    ):
        raise KMSPluginError("malformed HELLO (expected config, baseDir and logLevel)")
    configure_logging(hello["logLevel"])
    try:
        config = Config.model_validate(hello["config"])
    except ValidationError as exc:
        raise ConfigError("pkcs11 worker HELLO", validation_issues(exc, "config")) from None
    return open_backend(config, base_dir=Path(hello["baseDir"])), config


def _run(pipe: _Pipe) -> int:
    frames = pipe.read()
    if frames is None:
        return 0  # closed before saying anything: nothing to do
    (call_id, code, fields), rest = frames[0], frames[1:]
    if code != HELLO or len(fields) != 1:
        raise FrameError("the first request is not HELLO")
    try:
        backend, config = _open(fields[0])
    except Exception as exc:
        if not isinstance(exc, SealboxError):
            log.exception("PKCS#11 worker: could not open the backend")
        pipe.write(encode_error(call_id, exc))
        return EXIT_NO_BACKEND
    try:
        try:
            backend.start(generate_if_missing=config.generate_if_missing)
        except Exception as exc:
            if not isinstance(exc, SealboxError):
                log.exception("PKCS#11 worker: starting the backend failed unexpectedly")
            pipe.write(encode_error(call_id, exc))
        else:
            pipe.write(encode_frame(call_id, OK))
        gc.freeze()  # what is loaded now lives as long as the worker: keep it out of GC passes
        # The loop itself runs on the PKCS#11 thread: the backend's calls then run in place, with
        # no hand-off per call, and the thread waits in os.read while the plugin has nothing.
        RUNTIME.run(lambda: _serve(pipe, backend, rest), timeout=None)
    finally:
        backend.close()
    return 0


def main() -> int:
    """The worker process; returns its exit code (0, :data:`EXIT_NO_BACKEND`, EXIT_BAD_INPUT)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    frames_out = os.dup(1)
    os.dup2(2, 1)  # a stray print lands in the log, not in the frame stream
    configure_logging("warning")  # until HELLO says which level the plugin logs at
    try:
        return _run(_Pipe(0, frames_out))
    except FrameError as exc:
        log.error("PKCS#11 worker: malformed input from the plugin; exiting", extra={"error": exc})
        return EXIT_BAD_INPUT
    except _PluginGone:
        log.debug("PKCS#11 worker: the plugin is gone; exiting")
        return 0


if __name__ == "__main__":
    sys.exit(main())
