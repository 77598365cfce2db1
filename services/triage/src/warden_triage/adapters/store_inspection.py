"""Read-only views of triage's SQLite state, for benchmarks and operators (never for the service).

A separate read-only connection: WAL lets it read while the service writes.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def processed_times(path: Path) -> dict[str, datetime]:
    """Message id -> when the tracker committed it; empty before the store exists."""
    if not path.exists():
        return {}
    with _connect(path) as db:
        rows = db.execute("SELECT message_id, processed_at FROM processed").fetchall()
    return {m: datetime.fromisoformat(at) for m, at in rows}


def incident_alert_counts(path: Path) -> dict[str, int]:
    """Incident id -> alerts attached to it."""
    with _connect(path) as db:
        rows = db.execute("SELECT incident_id, COUNT(*) FROM alerts GROUP BY incident_id").fetchall()
    return {i: n for i, n in rows}
