"""`ScheduleStore` on SQLite: each task's schedule position and its lease, in one row.

The lease is taken with one conditional UPDATE, so two scheduler processes sharing the file can
never both start the same task, and a scheduled time already handed over is never started again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import aiosqlite

from warden_scheduler.domain.runner import TaskState

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
  name TEXT PRIMARY KEY,
  first_seen TEXT NOT NULL,
  last_fire TEXT,
  last_run_id TEXT,
  lease_run_id TEXT,
  lease_holder TEXT,
  lease_until TEXT
);
"""


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SqliteScheduleStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self._path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the schedule store is not open")
        return self._db

    async def state(self, task: str, now: datetime) -> TaskState:
        async with self._lock:
            await self.db.execute(
                "INSERT OR IGNORE INTO tasks (name, first_seen) VALUES (?, ?)", (task, now.isoformat())
            )
            async with self.db.execute(
                "SELECT first_seen, last_fire, lease_run_id, lease_until FROM tasks WHERE name = ?", (task,)
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        first_seen = _time(row[0])
        assert first_seen is not None
        return TaskState(task, first_seen, _time(row[1]), row[2], _time(row[3]))

    async def try_lease(
        self, task: str, run: str, scheduled_for: datetime, holder: str, now: datetime, until: datetime
    ) -> bool:
        async with self._lock:
            cur = await self.db.execute(
                "UPDATE tasks SET lease_run_id = ?, lease_holder = ?, lease_until = ? "
                "WHERE name = ? AND (last_fire IS NULL OR last_fire < ?) "
                "AND (lease_run_id IS NULL OR lease_until <= ? OR (lease_run_id = ? AND lease_holder = ?))",
                (run, holder, until.isoformat(), task, scheduled_for.isoformat(), now.isoformat(), run, holder),
            )
            return cur.rowcount == 1

    async def fired(self, task: str, run: str, scheduled_for: datetime) -> None:
        async with self._lock:
            await self.db.execute(
                "UPDATE tasks SET last_fire = ?, last_run_id = ? WHERE name = ? AND lease_run_id = ?",
                (scheduled_for.isoformat(), run, task, run),
            )

    async def release(self, task: str, run: str) -> bool:
        async with self._lock:
            cur = await self.db.execute(
                "UPDATE tasks SET lease_run_id = NULL, lease_until = NULL WHERE name = ? AND lease_run_id = ?",
                (task, run),
            )
            return cur.rowcount == 1
