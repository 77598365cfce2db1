"""FastStream's loggers, brought under the process's JSON logging.

FastStream gives its own loggers (`faststream`, `faststream.access.*`) a colourised plain-text
handler and `propagate = False`, so they bypass the root handler `configure_logging` installs and
write ANSI codes into JSON log files. The broker is handed `BROKER_LOGGER` instead (a plain
logger that propagates to the root), and `adopt_faststream_loggers` strips FastStream's own
handlers from whatever loggers it already made.

An idle pull is not an error: nats-py (>= 2.15) can end an idle `fetch` with the builtin
`TimeoutError`, which FastStream's pull loop does not catch; its task supervisor restarts the loop
(nothing is lost) after logging an ERROR with a traceback. `IdleFetchTimeouts` turns that record
into one DEBUG line.
"""

from __future__ import annotations

import logging

BROKER_LOGGER = "warden.bus.faststream"
_RESTART_NOTE = "is being executed..."  # FastStream's INFO line each time a pull task ends


class IdleFetchTimeouts(logging.Filter):
    """Demotes FastStream's "task raised TimeoutError, retrying" ERROR (and its INFO preamble) to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, TimeoutError):
            record.msg, record.args = "idle pull fetch timed out; the pull loop restarts", None
            record.exc_info, record.exc_text = None, None
        elif not (record.levelno == logging.INFO and str(record.msg).endswith(_RESTART_NOTE)):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def broker_logger() -> logging.Logger:
    logger = logging.getLogger(BROKER_LOGGER)
    if not any(isinstance(f, IdleFetchTimeouts) for f in logger.filters):
        logger.addFilter(IdleFetchTimeouts())
    return logger


def adopt_faststream_loggers() -> None:
    """Every `faststream*` logger that exists now writes through the root handler, uncoloured."""
    for name in list(logging.Logger.manager.loggerDict):
        if name == "faststream" or name.startswith("faststream."):
            logger = logging.getLogger(name)
            logger.handlers[:] = []
            logger.propagate = True
