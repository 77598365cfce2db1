"""`TicketStore` on SQLite: verified tickets by action id, kept across restarts of the authority
(the broker does not redeliver a ticket once it was acknowledged)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
from warden_contracts.events import ElevationTicket

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
  action_id TEXT PRIMARY KEY,
  principal TEXT NOT NULL,
  not_after TEXT NOT NULL,
  received_at TEXT NOT NULL,
  released_at TEXT,
  body TEXT NOT NULL
);
"""


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class SqliteTicketStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self._path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("ticket store is not open")
        return self._db

    async def put(self, ticket: ElevationTicket) -> bool:
        async with self._lock:
            cursor = await self.db.execute(
                "INSERT OR IGNORE INTO tickets (action_id, principal, not_after, received_at, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    ticket.action_id,
                    ticket.principal,
                    _utc(ticket.not_after),
                    _utc(datetime.now(UTC)),
                    ticket.model_dump_json(),
                ),
            )
            return cursor.rowcount == 1

    async def get(self, action_id: str) -> ElevationTicket | None:
        async with self.db.execute("SELECT body FROM tickets WHERE action_id = ?", (action_id,)) as cursor:
            row = await cursor.fetchone()
        return ElevationTicket.model_validate_json(row[0]) if row else None

    async def oldest_open(self, principal: str, now: datetime) -> ElevationTicket | None:
        async with self.db.execute(
            "SELECT body FROM tickets WHERE principal = ? AND released_at IS NULL AND not_after > ?"
            " ORDER BY received_at LIMIT 1",
            (principal, _utc(now)),
        ) as cursor:
            row = await cursor.fetchone()
        return ElevationTicket.model_validate_json(row[0]) if row else None

    async def released(self, action_id: str) -> None:
        async with self._lock:
            await self.db.execute(
                "UPDATE tickets SET released_at = ? WHERE action_id = ? AND released_at IS NULL",
                (_utc(datetime.now(UTC)), action_id),
            )
