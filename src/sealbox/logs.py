"""Structured JSON logs on stderr, for every long-running process: one object per line, ``extra``
fields included.

Nothing here filters secrets: the code that logs never passes plaintext, DEKs, KEKs, tokens or
PINs, and tests grep the captured output to keep it that way.
"""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["JSONFormatter", "configure_logging"]

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value if isinstance(value, (int, float, bool)) else str(value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger("sealbox")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
