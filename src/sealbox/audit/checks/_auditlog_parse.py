"""Stream an audit log (``audit.k8s.io/v1`` Event JSON lines, optionally gzip) into requests.

Each line is parsed on its own and reduced at once to a small :class:`Request`: who, verb,
``objectRef``, response code, level, time, and only *whether* a request or response body was
logged. ``requestObject`` and ``responseObject`` are never kept, so no Secret value travels
further than the JSON parser. A line that is not an Event (or an ``EventList`` of them) is a
problem for that line and the scan goes on.

One request produces one event per stage (Kubernetes docs, Auditing: stages). :class:`Dedupe` counts
each ``auditID`` once: at its first stage after ``RequestReceived`` (``ResponseStarted`` for watch
and other long-running requests, else ``ResponseComplete`` or ``Panic``), with the line of its first
event; a request whose later stages never appear (a policy that omits them, a truncated log) is
counted from ``RequestReceived`` when it leaves the window. The window keeps the last
:data:`DEDUPE_WINDOW` audit IDs, so memory stays bounded on logs of any size.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

__all__ = [
    "DEDUPE_WINDOW",
    "MAX_LINE_BYTES",
    "Dedupe",
    "ReadError",
    "Request",
    "open_log",
    "parse_line",
    "read_lines",
]

MAX_LINE_BYTES = 16 * 1024 * 1024
DEDUPE_WINDOW = 100_000
_GZIP_MAGIC = b"\x1f\x8b"
_READ_ERRORS = (OSError, EOFError, zlib.error)


class ReadError(Exception):
    """The log stream itself broke (I/O error, corrupt gzip); ``line`` is the last line read."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Request:
    """What the analysis needs from one audit event; never any object content."""

    audit_id: str
    stage: str
    line: int
    verb: str
    user: str
    groups: tuple[str, ...] = ()
    impersonated: str | None = None
    level: str = ""
    resource: str = ""
    api_group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    code: int | None = None
    time: datetime | None = None
    body_logged: bool = False


@contextmanager
def open_log(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for binary reading, through gzip when it starts with the gzip magic."""
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic != _GZIP_MAGIC:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
            yield cast(IO[bytes], unpacked)


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; None for a line over :data:`MAX_LINE_BYTES` (skipped)."""
    number = 0
    try:
        while True:
            chunk = stream.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                return
            number += 1
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                while True:  # drain the rest of the long line without keeping it
                    more = stream.readline(1 << 20)
                    if not more or more.endswith(b"\n"):
                        break
                yield number, None
                continue
            yield number, chunk
    except _READ_ERRORS as exc:
        raise ReadError(number, str(getattr(exc, "strerror", None) or exc)) from None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _request(event: Mapping[str, Any], line: int) -> Request | str:
    audit_id, stage, verb = event.get("auditID"), event.get("stage"), event.get("verb")
    user = event.get("user")
    if event.get("kind") not in (None, "Event"):
        return "not an audit Event (kind is not Event)"
    for field, value in (("auditID", audit_id), ("stage", stage), ("verb", verb)):
        if not isinstance(value, str) or not value:
            return f"not an audit Event ({field} missing or not a string)"
    if not isinstance(user, Mapping):
        return "not an audit Event (user missing or not an object)"
    groups = user.get("groups")
    impersonated = event.get("impersonatedUser")
    ref = event.get("objectRef")
    ref = ref if isinstance(ref, Mapping) else {}
    status = event.get("responseStatus")
    code = status.get("code") if isinstance(status, Mapping) else None
    return Request(
        audit_id=str(audit_id),
        stage=str(stage),
        line=line,
        verb=str(verb),
        user=_str(user.get("username")),
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        impersonated=(
            _str(impersonated.get("username")) or "(unnamed)"
            if isinstance(impersonated, Mapping)
            else None
        ),
        level=_str(event.get("level")),
        resource=_str(ref.get("resource")),
        api_group=_str(ref.get("apiGroup")),
        subresource=_str(ref.get("subresource")),
        namespace=_str(ref.get("namespace")),
        name=_str(ref.get("name")),
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        time=_time(event.get("requestReceivedTimestamp")) or _time(event.get("stageTimestamp")),
        body_logged="requestObject" in event or "responseObject" in event,
    )


def parse_line(raw: bytes, line: int) -> tuple[list[Request], str | None]:
    """The requests on one line (several for an ``EventList``), or a problem (never raises)."""
    text = raw.strip()
    if not text:
        return [], None
    try:
        document = json.loads(text)
    except UnicodeDecodeError:
        return [], "not UTF-8 text"
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "cannot parse"
        return [], f"not JSON ({reason})"
    if not isinstance(document, dict):
        return [], "not an audit Event (not a JSON object)"
    if document.get("kind") == "EventList":
        items = document.get("items")
        if not isinstance(items, list):
            return [], "EventList without an items list"
        found: list[Request] = []
        for item in items:
            request = _request(item, line) if isinstance(item, Mapping) else "item not an object"
            if isinstance(request, str):
                return found, request
            found.append(request)
        return found, None
    request = _request(document, line)
    return ([], request) if isinstance(request, str) else ([request], None)


_PENDING = object()


class Dedupe:
    """Turns events into requests, each ``auditID`` once (see the module docstring)."""

    def __init__(self, window: int = DEDUPE_WINDOW) -> None:
        self.window = window
        # auditID -> the RequestReceived event still waiting for a later stage, or None if the
        # request was already counted.
        self._state: OrderedDict[str, Request | None] = OrderedDict()

    def feed(self, event: Request) -> list[Request]:
        """The requests ready to count after ``event`` (usually zero or one)."""
        ready: list[Request] = []
        previous = self._state.get(event.audit_id, _PENDING)
        if previous is None:
            return ready
        if event.stage != "RequestReceived":
            first = previous.line if isinstance(previous, Request) else event.line
            ready.append(replace(event, line=first))
            self._state[event.audit_id] = None
            self._state.move_to_end(event.audit_id)
        elif previous is _PENDING:
            self._state[event.audit_id] = event
        while len(self._state) > self.window:
            _, old = self._state.popitem(last=False)
            if old is not None:
                ready.append(old)
        return ready

    def flush(self) -> list[Request]:
        """Requests seen only at ``RequestReceived``, in file order."""
        pending = [event for event in self._state.values() if event is not None]
        self._state.clear()
        return pending
