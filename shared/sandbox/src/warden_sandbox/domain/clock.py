"""Timestamps as the estate reports them: UTC, ISO 8601 with a trailing Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
