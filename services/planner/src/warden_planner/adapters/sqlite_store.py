"""`PlannerStore` on SQLite (aiosqlite): incident records, processed ids, controls, an outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
from warden_contracts.envelope import Envelope

from warden_planner.domain.records import IncidentRecord

# Redeliveries arrive within minutes; a month of processed ids is far beyond any broker retention.
PROCESSED_RETENTION = timedelta(days=30)

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (incident_id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS controls (key TEXT PRIMARY KEY, value TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0
);
"""


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self._path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.executescript(SCHEMA)
        cutoff = (datetime.now(UTC) - PROCESSED_RETENTION).isoformat()
        await db.execute("DELETE FROM processed WHERE at < ?", (cutoff,))
        await db.execute("DELETE FROM outbox WHERE sent = 1")
        await db.commit()
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the planner store is not open")
        return self._db

    async def seen(self, message_id: str) -> bool:
        async with self.db.execute("SELECT 1 FROM processed WHERE message_id = ?", (message_id,)) as cur:
            return await cur.fetchone() is not None

    async def load(self, incident_id: str) -> IncidentRecord | None:
        async with self.db.execute("SELECT body FROM incidents WHERE incident_id = ?", (incident_id,)) as cur:
            row = await cur.fetchone()
        return IncidentRecord.model_validate_json(row[0]) if row else None

    async def controls(self) -> dict[str, str]:
        async with self.db.execute("SELECT key, value FROM controls") as cur:
            return {key: value for key, value in await cur.fetchall()}

    async def commit(
        self,
        message_id: str,
        *,
        record: IncidentRecord | None = None,
        control: tuple[str, str] | None = None,
        outgoing: Sequence[Envelope] = (),
    ) -> None:
        now = datetime.now(UTC).isoformat()
        async with self._lock:
            db = self.db
            try:
                await db.execute("INSERT OR IGNORE INTO processed (message_id, at) VALUES (?, ?)", (message_id, now))
                if record is not None:
                    await db.execute(
                        "INSERT INTO incidents (incident_id, body, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(incident_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                        (record.incident_id, record.model_dump_json(), now),
                    )
                if control is not None:
                    await db.execute(
                        "INSERT INTO controls (key, value, at) VALUES (?, ?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, at = excluded.at",
                        (control[0], control[1], now),
                    )
                await db.executemany(
                    "INSERT OR IGNORE INTO outbox (id, body) VALUES (?, ?)",
                    [(env.id, env.to_bytes().decode()) for env in outgoing],
                )
                await db.commit()
            except BaseException:
                await db.rollback()
                raise

    async def recovered_open(self) -> list[IncidentRecord]:
        query = (
            "SELECT body FROM incidents WHERE json_extract(body, '$.recovered_at') IS NOT NULL "
            "AND NOT json_extract(body, '$.closed') AND NOT json_extract(body, '$.escalated')"
        )
        async with self.db.execute(query) as cur:
            return [IncidentRecord.model_validate_json(row[0]) for row in await cur.fetchall()]

    async def unsent(self) -> list[Envelope]:
        async with self.db.execute("SELECT body FROM outbox WHERE sent = 0 ORDER BY seq") as cur:
            return [Envelope.from_bytes(row[0].encode()) for row in await cur.fetchall()]

    async def mark_sent(self, envelope_id: str) -> None:
        async with self._lock:
            await self.db.execute("UPDATE outbox SET sent = 1 WHERE id = ?", (envelope_id,))
            await self.db.commit()
