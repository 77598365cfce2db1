"""Where a service's store lives, from its `*_store_url` setting: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from warden_persistence.database import Database
from warden_persistence.migrations import Migration, migrate
from warden_persistence.postgres_url import split_schema
from warden_persistence.sqlite import SqliteDatabase


def backend_of(url: str | None) -> Literal["sqlite", "postgres"]:
    """`sqlite` for no URL, `postgres` for `postgresql://...`; ValueError for anything else
    (call it in the composition root, so a bad setting stops the start-up)."""
    if not url:
        return "sqlite"
    split_schema(url)
    return "postgres"


async def open_database(
    url: str | None,
    sqlite_path: Path | None,
    migrations: Sequence[Migration],
    *,
    default_schema: str = "public",
    pool_size: int = 4,
) -> Database:
    """The database `url` names (or the SQLite file `sqlite_path`), migrated to the last version.
    `default_schema`: the PostgreSQL schema when the URL has no `?schema=`; give each store its
    own (its name), since a schema holds one `schema_version` sequence."""
    db: Database
    if backend_of(url) == "sqlite":
        if sqlite_path is None:
            raise ValueError("no store URL and no SQLite path: one of them says where the store is")
        db = await SqliteDatabase.open(sqlite_path)
    else:
        assert url is not None
        from warden_persistence.postgres import PostgresDatabase  # the driver, only for this backend

        db = await PostgresDatabase.open(url, default_schema=default_schema, pool_size=pool_size)
    try:
        await migrate(db, migrations)
    except BaseException:
        await db.close()
        raise
    return db
