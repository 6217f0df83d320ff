"""The PKCS#11 worker process: one ``pkcs11`` backend, in an interpreter of its own, for the plugin.

Why a process: python-pkcs11 releases the GIL around every PKCS#11 C call, and inside the plugin
each re-acquire waited for the event-loop thread, which is busy running gRPC. Here the backend
has a GIL of its own; the plugin's event loop talks to it over two pipes (:mod:`._pkcs11_proxy`),
with no thread of its own, so answers land on the loop without a thread hand-off.

Started by the plugin as ``python -m sealbox.kms.backends._pkcs11_worker`` (spawned, never forked
from the plugin: gRPC does not survive ``fork``), stdin and stdout are pipes to the plugin, stderr
is the plugin's own (the worker logs there, in the same JSON lines). Nothing secret is in argv:
the worker reads the PIN itself, from ``pinFile`` or ``pinEnv`` (the environment is inherited).

Wire format, both directions. No pickle: the worker decodes nothing but these fields::

    frame  = uint32be length ‖ body                         5 <= length <= 1 MiB
    body   = uint32be call_id ‖ uint8 code ‖ field*
    field  = uint32be length ‖ bytes

    request (plugin → worker)   code  fields
      HELLO                     0x01  JSON {"config": <the pkcs11 entry of plugin.yaml, camelCase>,
                                            "baseDir": "<plugin.yaml's directory>",
                                            "logLevel": "info"}
      CURRENT_KEY_ID            0x02  -
      WRAP                      0x03  plaintext
      UNWRAP                    0x04  ciphertext, key_id (UTF-8), annotations as name, value pairs

    response (worker → plugin), one per request, same call_id, in request order
      OK                        0x00  HELLO: -   CURRENT_KEY_ID: key_id
                                      WRAP: ciphertext, key_id, annotation pairs   UNWRAP: plaintext
      BackendRejected           0x10  message
      BackendUnavailable        0x11  message
      ConfigError               0x12  message, source, then (path, message) pairs of its issues
      other error               0x13  message (a SealboxError's text, or only the class name of
                                      any other exception; the worker logs that one's traceback)

Messages are the backend's own, so they keep its guarantees: no PIN, no plaintext, no key bytes.
Requests carry seeds, which is why nothing here logs a frame.

Lifecycle:

1. The first frame must be HELLO. The worker validates the config, reads the PIN and opens the
   backend; if that fails it answers the error and exits 1. Then it starts the backend (log in,
   find or generate the KEK) and answers the outcome; a failed start does not end the worker:
   later calls retry, as the in-process backend would (a token that comes back is used again).
2. Then, on the process's single PKCS#11 thread (:mod:`._pkcs11_runtime`), it loops: read what
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
import struct
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sealbox.errors import (
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    ConfigIssue,
    SealboxError,
)

if TYPE_CHECKING:
    from sealbox.kms.backends._pkcs11_config import Config
    from sealbox.kms.backends.pkcs11 import Pkcs11Backend

__all__ = [
    "CONFIG_ERROR",
    "CURRENT_KEY_ID",
    "EXIT_BAD_INPUT",
    "EXIT_NO_BACKEND",
    "HELLO",
    "MAX_FRAME_BYTES",
    "OK",
    "OTHER_ERROR",
    "REJECTED",
    "UNAVAILABLE",
    "UNWRAP",
    "WRAP",
    "Frame",
    "FrameError",
    "decode_error",
    "encode_error",
    "encode_frame",
    "flatten",
    "main",
    "pairs",
    "split_frames",
]

log = logging.getLogger("sealbox.kms.pkcs11.worker")

MAX_FRAME_BYTES = 1 << 20
HELLO, CURRENT_KEY_ID, WRAP, UNWRAP = 0x01, 0x02, 0x03, 0x04
OK, REJECTED, UNAVAILABLE, CONFIG_ERROR, OTHER_ERROR = 0x00, 0x10, 0x11, 0x12, 0x13
EXIT_NO_BACKEND = 1
EXIT_BAD_INPUT = 2

_U32 = struct.Struct(">I")
_HEAD = struct.Struct(">IIB")  # frame length, call_id, code
_ID_CODE = struct.Struct(">IB")
_MIN_BODY = _ID_CODE.size
_READ_BYTES = 1 << 16
_MESSAGE_CHARS = 300

Frame = tuple[int, int, list[bytes]]
"""``(call_id, code, fields)``."""


class FrameError(ValueError):
    """The byte stream breaks the framing; it cannot be resynchronized."""


# -- framing (both sides) --------------------------------------------------------------------------


def encode_frame(call_id: int, code: int, fields: Sequence[bytes] = ()) -> bytes:
    size = _MIN_BODY
    for field in fields:
        size += 4 + len(field)
    if size > MAX_FRAME_BYTES:
        raise FrameError(f"a frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    parts = [_HEAD.pack(size, call_id, code)]
    for field in fields:
        parts.append(_U32.pack(len(field)))
        parts.append(field)
    return b"".join(parts)


def split_frames(buffer: bytearray) -> list[Frame]:
    """Remove every complete frame from the front of ``buffer`` and return them.

    Raises:
        FrameError: a length is out of bounds, or a field crosses the end of its frame.
    """
    frames: list[Frame] = []
    offset, end = 0, len(buffer)
    while end - offset >= 4:
        (length,) = _U32.unpack_from(buffer, offset)
        if not _MIN_BODY <= length <= MAX_FRAME_BYTES:
            raise FrameError(f"frame length {length} is outside {_MIN_BODY}..{MAX_FRAME_BYTES}")
        start = offset + 4
        stop = start + length
        if stop > end:
            break
        call_id, code = _ID_CODE.unpack_from(buffer, start)
        fields: list[bytes] = []
        position = start + _MIN_BODY
        while position < stop:
            if stop - position < 4:
                raise FrameError("a field header crosses the end of its frame")
            (size,) = _U32.unpack_from(buffer, position)
            position += 4
            if size > stop - position:
                raise FrameError("a field crosses the end of its frame")
            fields.append(bytes(buffer[position : position + size]))
            position += size
        frames.append((call_id, code, fields))
        offset = stop
    if offset:
        del buffer[:offset]
    return frames


def encode_error(call_id: int, exc: BaseException) -> bytes:
    """The answer for a call that raised ``exc`` (see the module docstring for the classes)."""
    if isinstance(exc, BackendRejected):
        return encode_frame(call_id, REJECTED, [_text(str(exc))])
    if isinstance(exc, BackendUnavailable):
        return encode_frame(call_id, UNAVAILABLE, [_text(str(exc))])
    if isinstance(exc, ConfigError):
        fields = [_text(str(exc)), _text(exc.source)]
        for issue in exc.issues:
            fields += [_text(issue.path), _text(issue.message)]
        return encode_frame(call_id, CONFIG_ERROR, fields)
    if isinstance(exc, SealboxError):
        return encode_frame(call_id, OTHER_ERROR, [_text(str(exc)[:_MESSAGE_CHARS])])
    message = f"unexpected {type(exc).__name__} in the PKCS#11 worker; see its log"
    return encode_frame(call_id, OTHER_ERROR, [_text(message)])


def decode_error(code: int, fields: Sequence[bytes]) -> SealboxError:
    """The Sealbox error an error answer stands for; a malformed one is ``BackendUnavailable``."""
    texts = [field.decode("utf-8", "replace") for field in fields]
    if code == REJECTED and len(texts) == 1:
        return BackendRejected(texts[0])
    if code == UNAVAILABLE and len(texts) == 1:
        return BackendUnavailable(texts[0])
    if code == CONFIG_ERROR and len(texts) >= 2 and len(texts) % 2 == 0:
        pairs = texts[2:]
        issues = [ConfigIssue(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
        return ConfigError(texts[1], issues)
    if code == OTHER_ERROR and len(texts) == 1:
        return SealboxError(texts[0])
    return BackendUnavailable(f"the PKCS#11 worker sent a malformed answer (code 0x{code:02x})")


def _text(value: str) -> bytes:
    return value.encode("utf-8", "replace")


def pairs(fields: Sequence[bytes]) -> dict[str, bytes]:
    """Annotations from ``name, value`` fields.

    Raises:
        ValueError: an odd number of fields, or a name that is not UTF-8.
    """
    if len(fields) % 2:
        raise ValueError("annotations must come in name, value pairs")
    return {fields[i].decode(): fields[i + 1] for i in range(0, len(fields), 2)}


def flatten(annotations: Mapping[str, bytes]) -> list[bytes]:
    out: list[bytes] = []
    for name, value in annotations.items():
        out += [name.encode(), bytes(value)]
    return out


# -- the worker ------------------------------------------------------------------------------------


class _Malformed(SealboxError):
    """A well-framed request of an unknown type or shape (a bug on the plugin side)."""


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
                raise _Malformed("malformed UNWRAP request") from None
            result = [backend.unwrap(fields[0], key_id, annotations)]
        elif code == WRAP and len(fields) == 1:
            wrapped = backend.wrap(fields[0])
            result = [wrapped.ciphertext, wrapped.key_id.encode(), *flatten(wrapped.annotations)]
        elif code == CURRENT_KEY_ID and not fields:
            result = [backend.current_key_id().encode()]
        else:
            raise _Malformed(f"malformed request (type 0x{code:02x} with {len(fields)} fields)")
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
        raise _Malformed("malformed HELLO (not JSON)") from None
    if not (
        isinstance(hello, dict)
        and isinstance(hello.get("config"), dict)
        and isinstance(hello.get("baseDir"), str)
        and hello.get("logLevel") in ("debug", "info", "warning", "error", "critical")
    ):
        raise _Malformed("malformed HELLO (expected config, baseDir and logLevel)")
    from pydantic import ValidationError

    from sealbox.kms.backends import pkcs11
    from sealbox.kms.logs import configure_logging

    configure_logging(hello["logLevel"])
    try:
        config = pkcs11.Config.model_validate(hello["config"])
    except ValidationError as exc:
        issues = [
            ConfigIssue(".".join(str(part) for part in error["loc"]), error["msg"])
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise ConfigError("pkcs11 worker HELLO", issues) from None
    return pkcs11.open_backend(config, base_dir=Path(hello["baseDir"])), config


def _run(pipe: _Pipe) -> int:
    from sealbox.kms.backends._pkcs11_runtime import RUNTIME

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
    from sealbox.kms.logs import configure_logging

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
