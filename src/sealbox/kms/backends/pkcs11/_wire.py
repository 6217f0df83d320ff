"""The frames between the plugin and its PKCS#11 worker process, shared by both sides.

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
      AccessDenied              0x14  message (the token refused the PIN, or it is locked)

Messages are the backend's own, so they keep its guarantees: no PIN, no plaintext, no key bytes.
Requests carry seeds, which is why nothing here logs a frame.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from sealbox.errors import (
    AccessDenied,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    ConfigIssue,
    SealboxError,
)

__all__ = [
    "ACCESS_DENIED",
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
    "pairs",
    "split_frames",
]


MAX_FRAME_BYTES = 1 << 20
HELLO, CURRENT_KEY_ID, WRAP, UNWRAP = 0x01, 0x02, 0x03, 0x04
OK, REJECTED, UNAVAILABLE, CONFIG_ERROR, OTHER_ERROR = 0x00, 0x10, 0x11, 0x12, 0x13
ACCESS_DENIED = 0x14
EXIT_NO_BACKEND = 1
EXIT_BAD_INPUT = 2

_U32 = struct.Struct(">I")
_HEAD = struct.Struct(">IIB")  # frame length, call_id, code
_ID_CODE = struct.Struct(">IB")
_MIN_BODY = _ID_CODE.size
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
    if isinstance(exc, AccessDenied):
        return encode_frame(call_id, ACCESS_DENIED, [_text(str(exc))])
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
    if code == ACCESS_DENIED and len(texts) == 1:
        return AccessDenied(texts[0])
    if code == CONFIG_ERROR and len(texts) >= 2 and len(texts) % 2 == 0:
        pairs = texts[2:]
        issues = [ConfigIssue(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
        return ConfigError(texts[1], issues)
    if code == OTHER_ERROR and len(texts) == 1:
        return SealboxError(texts[0])  # some other subclass: its text crosses, its class cannot
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
