"""`ScheduleStore` on SQLite (the embedded default): the SQL store (`sql_store`) on a file under
the data dir, opened by `warden_persistence` (WAL, synchronous=FULL, busy timeout, file 0600).
Two scheduler processes may share the file: SQLite's write lock orders their leases."""

from __future__ import annotations

from pathlib import Path

from warden_scheduler.adapters.sql_store import SqlScheduleStore


class SqliteScheduleStore(SqlScheduleStore):
    def __init__(self, path: Path) -> None:
        super().__init__(None, path)
