"""`ScheduleStore` in SQL, one body for SQLite (embedded) and PostgreSQL (several schedulers):
each task's schedule position and its lease, in one row.

The lease is a compare-and-set: one conditional UPDATE that succeeds only while no other holder
has an unexpired lease and no run for this time (or a later one) was handed over. On PostgreSQL
two replicas updating the row at once are ordered by its row lock, and the second re-checks the
condition on the row the first committed, so it matches nothing: two schedulers can never both
start the same task, and a scheduled time already handed over is never started again.
Times are stored as UTC ISO-8601 text, so comparing them as text orders them in time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warden_persistence import Database, DatabaseOwner, Dialect, Migration, open_database

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
)
"""
MIGRATIONS = (Migration(1, SCHEMA),)
_FIRST_SIGHT = Dialect.insert_ignore("tasks", ["name", "first_seen"])


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SqlScheduleStore(DatabaseOwner):
    """`url` None: SQLite at `sqlite_path`; `postgresql://user@host/db?schema=name`: PostgreSQL
    (schema `scheduler` when the URL names none)."""

    store_name = "the schedule store"

    def __init__(self, url: str | None, sqlite_path: Path | None = None) -> None:
        self.url = url
        self.path = sqlite_path
        self._db: Database | None = None

    async def open(self) -> None:
        self._db = await open_database(self.url, self.path, MIGRATIONS, default_schema="scheduler", pool_size=2)

    async def state(self, task: str, now: datetime) -> TaskState:
        async with self.db.transaction() as s:
            await s.execute(_FIRST_SIGHT, (task, _utc(now)))
            row = await s.one(
                "SELECT first_seen, last_fire, lease_run_id, lease_until FROM tasks WHERE name = ?", (task,)
            )
        assert row is not None
        first_seen = _time(row[0])
        assert first_seen is not None
        return TaskState(task, first_seen, _time(row[1]), row[2], _time(row[3]))

    async def try_lease(
        self, task: str, run: str, scheduled_for: datetime, holder: str, now: datetime, until: datetime
    ) -> bool:
        async with self.db.transaction() as s:
            changed = await s.execute(
                "UPDATE tasks SET lease_run_id = ?, lease_holder = ?, lease_until = ? "
                "WHERE name = ? AND (last_fire IS NULL OR last_fire < ?) "
                "AND (lease_run_id IS NULL OR lease_until <= ? OR (lease_run_id = ? AND lease_holder = ?))",
                (run, holder, _utc(until), task, _utc(scheduled_for), _utc(now), run, holder),
            )
        return changed == 1

    async def fired(self, task: str, run: str, scheduled_for: datetime) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                "UPDATE tasks SET last_fire = ?, last_run_id = ? WHERE name = ? AND lease_run_id = ?",
                (_utc(scheduled_for), run, task, run),
            )

    async def release(self, task: str, run: str) -> bool:
        async with self.db.transaction() as s:
            changed = await s.execute(
                "UPDATE tasks SET lease_run_id = NULL, lease_until = NULL WHERE name = ? AND lease_run_id = ?",
                (task, run),
            )
        return changed == 1
