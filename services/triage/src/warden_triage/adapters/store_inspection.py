"""Read-only views of triage's SQLite state, for benchmarks and operators (never for the service).

A separate read-only connection from the persistence kit's opener: WAL lets it read while the
service writes, and it can neither create the file nor write to it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

from warden_persistence import connect_sqlite


def _connect(path: Path) -> closing[sqlite3.Connection]:
    return closing(connect_sqlite(path, read_only=True))


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
