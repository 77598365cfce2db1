"""The points in time commands take (`--since`, `--until`): an ISO date or time, UTC when it names
no zone, or a span back from now such as `90m`, `24h`, `7d` or `2w`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import typer

__all__ = ["moment", "parse_moment"]

_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def moment(text: str, now: Now = _utcnow, *, example: str = "a span like 24h or 7d") -> datetime:
    """The moment `text` names; a BadParameter saying it is neither an ISO time nor `example`."""
    span = _SPAN.match(text.strip())
    if span:
        return now() - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        found = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither an ISO time nor {example}") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def parse_moment(text: str | None, now: Now = _utcnow, *, example: str = "a span like 24h or 7d") -> datetime | None:
    """`moment`, or None (an open end of a range) when no text is given."""
    return moment(text, now, example=example) if text else None
