"""Warden's persistence kit, for the services' adapters (never their domain code).

One SQLite opener and pragma policy, one PostgreSQL pool, numbered migrations that run the same
way on both, and a dialect object for the few SQL differences, so a store keeps one SQL body.

Public API:

- `open_database(url, sqlite_path, migrations, default_schema=...)` -> `Database`: the
  composition root's choice. No URL: SQLite at `sqlite_path` (file 0600, folder 0700, WAL,
  synchronous=FULL, foreign keys, busy timeout). `postgresql://user@host/db?schema=name`: a pool
  on that schema (`default_schema` when the URL names none; one schema per store, as it holds
  the store's `schema_version`), created if missing. Either way migrated before it is returned.
  `backend_of(url)` validates the URL early.
- `Database.transaction()` -> `Session` (async context manager): commits on exit, rolls back on
  an exception; a lost race between replicas (deadlock, serialization failure, unique key taken
  meanwhile) surfaces as `Conflict`, to be retried by redelivery.
- `DatabaseOwner`: base of a store that owns one `Database` between its `open()` (which sets
  `_db`) and `close()`; its `db` outside that span is a clear error.
- `Database.read()` -> `Session`: for reads outside a write transaction (no BEGIN IMMEDIATE
  on SQLite); each statement sees what was committed when it ran.
- `Session.execute / one / all / script` with `?` placeholders on both backends;
  `Session.lock(name)` serialises replicas on a name (PostgreSQL advisory lock held until the
  transaction ends; nothing on SQLite, whose write transaction is already exclusive);
  `Session.dialect`.
- `Dialect`: `.sql(text)`, `.for_update` (" FOR UPDATE" or ""), `.pick(sqlite=..., postgres=...)`,
  `Dialect.upsert(table, columns, key)`, `Dialect.insert_ignore(table, columns)`.
- `Migration(version, step)`, step a SQL script or `async (Session) -> None`; `migrate(db, migrations)`;
  `add_missing_columns(session, table, {name: declaration})` for databases older than their
  `schema_version` table.
- `warden_persistence.outbox`: `Outbox` (the transactional outbox's SQL on a session),
  `outbox_schema`, and `Relay` (publishes after the commit, marks, flushes, purges).
- `connect_sqlite(path, read_only=False)` -> `sqlite3.Connection`: the raw opener, for code that
  needs sqlite3 itself (synchronous tools; `read_only` for inspecting another process's file);
  `SqliteDatabase`, `PostgresDatabase` for tests and tools (the latter, and psycopg with it, is
  imported when first named: a service on the SQLite default never loads the driver).
"""

from typing import TYPE_CHECKING, Any

from warden_persistence.database import Conflict, Database, Row, Session
from warden_persistence.dialect import POSTGRES, SQLITE, Dialect
from warden_persistence.location import backend_of, open_database
from warden_persistence.migrations import Migration, add_missing_columns, migrate, schema_version, table_columns
from warden_persistence.owner import DatabaseOwner
from warden_persistence.postgres_url import is_postgres_url, split_schema
from warden_persistence.sqlite import PRAGMAS, SqliteDatabase, connect_sqlite

if TYPE_CHECKING:
    from warden_persistence.postgres import PostgresDatabase


def __getattr__(name: str) -> Any:
    if name == "PostgresDatabase":
        from warden_persistence.postgres import PostgresDatabase

        return PostgresDatabase
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "POSTGRES",
    "PRAGMAS",
    "SQLITE",
    "Conflict",
    "Database",
    "DatabaseOwner",
    "Dialect",
    "Migration",
    "PostgresDatabase",
    "Row",
    "Session",
    "SqliteDatabase",
    "add_missing_columns",
    "backend_of",
    "connect_sqlite",
    "is_postgres_url",
    "migrate",
    "open_database",
    "schema_version",
    "split_schema",
    "table_columns",
]
