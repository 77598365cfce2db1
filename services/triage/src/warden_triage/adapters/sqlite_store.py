"""`IncidentStore` on SQLite (the embedded default): the SQL store on a file under the data dir.

The SQL, the schema and its migrations live in `sql_store` (shared with PostgreSQL); the opener
and its pragmas (WAL, synchronous=FULL, foreign keys, busy timeout) in `warden_persistence`.
Statements run on the event loop: index lookups served from the page cache in microseconds.
Only BEGIN IMMEDIATE and COMMIT (fsync) go to a thread.
"""

from __future__ import annotations

from pathlib import Path

from warden_triage.adapters.sql_store import SqlIncidentStore


class SqliteIncidentStore(SqlIncidentStore):
    def __init__(self, path: Path) -> None:
        super().__init__(None, path)
