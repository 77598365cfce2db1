"""The policy state store on SQLite (the embedded mode's single replica): the SQL store on a file
under the data dir. The SQL, the schema and its numbered migrations live in `sql_store` (shared
with PostgreSQL); the opener and its pragmas (WAL, synchronous=FULL, busy timeout, foreign keys)
in `warden_persistence`. Reads run on the event loop without a write lock; only BEGIN IMMEDIATE
and COMMIT (fsync) go to a thread."""

from __future__ import annotations

from pathlib import Path

from warden_policy.adapters.sql_store import SqlStateStore


class SqliteStateStore(SqlStateStore):
    def __init__(self, path: Path) -> None:
        super().__init__(None, path)
