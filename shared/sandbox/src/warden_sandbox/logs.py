"""JSON log lines on stderr, one object per line, with any `extra=` fields inlined.

`service` names this process (the sandbox); records name the simulated service as `target`.
"""

from __future__ import annotations

import json
import logging
import os
import sys

_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "service": "sandbox",
            "logger": record.name,
            "msg": record.getMessage(),
        }
        body |= {k: v for k, v in record.__dict__.items() if k not in _STD_ATTRS and v is not None}
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def configure_logging(level: str = "INFO") -> None:
    # Process-wide setup: the sandbox's state and logs are for its user alone (docs/security-model.md).
    os.umask(0o077)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log repeats every poll of the Observer; keep it out of INFO output.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
