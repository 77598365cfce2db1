"""Approval requests as received from the bus, in SQLite so a restarted console still lists them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from warden_persistence import connect_sqlite

from warden_console.domain.approvals import ApprovalView

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    approval_id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    correlationid TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    body TEXT NOT NULL,
    received_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_incident ON requests (incident_id)
"""


class SqliteInbox:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        # The kit's opener: a 0600 file, WAL, synchronous=FULL, busy timeout, autocommit.
        self._db = connect_sqlite(self._path)
        self._db.executescript(_SCHEMA)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("inbox not open")
        return self._db

    async def add(self, request: Mapping[str, Any], correlationid: str) -> bool:
        async with self._lock:
            db = self._conn()
            (seq,) = db.execute("SELECT COALESCE(MAX(received_seq), 0) + 1 FROM requests").fetchone()
            cursor = db.execute(
                "INSERT OR IGNORE INTO requests VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(request["approval_id"]),
                    str(request["incident_id"]),
                    correlationid,
                    str(request["expires_at"]),
                    json.dumps(dict(request), default=str),
                    seq,
                ),
            )
            return cursor.rowcount == 1

    async def get(self, approval_id: str) -> ApprovalView | None:
        row = (
            self._conn()
            .execute("SELECT body, correlationid FROM requests WHERE approval_id = ?", (approval_id,))
            .fetchone()
        )
        return ApprovalView(json.loads(row[0]), row[1]) if row else None

    async def recent(self, limit: int = 200) -> list[ApprovalView]:
        rows = (
            self._conn()
            .execute("SELECT body, correlationid FROM requests ORDER BY received_seq DESC LIMIT ?", (limit,))
            .fetchall()
        )
        return [ApprovalView(json.loads(body), corr) for body, corr in rows]

    async def for_incident(self, incident_id: str) -> list[ApprovalView]:
        rows = (
            self._conn()
            .execute(
                "SELECT body, correlationid FROM requests WHERE incident_id = ? ORDER BY received_seq", (incident_id,)
            )
            .fetchall()
        )
        return [ApprovalView(json.loads(body), corr) for body, corr in rows]
