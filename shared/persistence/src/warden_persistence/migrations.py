"""Numbered schema migrations, run the same way on SQLite and PostgreSQL.

A store lists its migrations, `Migration(1, "CREATE TABLE ...")`, `Migration(2, callable)`,
versions strictly increasing. `migrate` applies, in one transaction, those above the version the
`schema_version` table records, and records each. A replica starting beside another waits on a
lock instead of applying them twice. Never edit a released migration: append a new one.
A database made before it had a `schema_version` table is at version 0: its first migration must
therefore tolerate what already exists (`CREATE TABLE IF NOT EXISTS`), and a later one can repair
what older code created differently (a callable that inspects the columns).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from warden_persistence.database import Database, Session

Step = str | Callable[[Session], Awaitable[None]]

SCHEMA_VERSION = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"


@dataclass(frozen=True)
class Migration:
    version: int
    # `;`-separated SQL, or an async callable given the open session (it may branch on
    # `session.dialect`).
    step: Step


def _checked(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if any(v < 1 for v in versions) or versions != sorted(set(versions)):
        raise ValueError(f"migration versions must be positive and strictly increasing: {versions}")


async def schema_version(session: Session) -> int:
    row = await session.one("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


async def migrate(db: Database, migrations: Sequence[Migration]) -> int:
    """Brings the database to the last migration's version; returns that version.
    A database newer than the code (a later version recorded) is refused."""
    _checked(migrations)
    async with db.transaction() as session:
        await session.lock("warden-schema-version")
        await session.execute(SCHEMA_VERSION)
        current = await schema_version(session)
        latest = migrations[-1].version if migrations else 0
        if current > latest:
            raise RuntimeError(f"database schema version {current} is newer than this code knows ({latest})")
        for m in migrations:
            if m.version <= current:
                continue
            if isinstance(m.step, str):
                await session.script(m.step)
            else:
                await m.step(session)
            await session.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (m.version, datetime.now(UTC).isoformat()),
            )
        return max(latest, current)


async def table_columns(session: Session, table: str) -> set[str]:
    """Column names of `table` (empty if it does not exist), for repair migrations."""
    if session.dialect.name == "sqlite":
        rows = await session.all(f"SELECT name FROM pragma_table_info('{table}')")  # noqa: S608 (a constant name)
    else:
        rows = await session.all(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ?",
            (table,),
        )
    return {r[0] for r in rows}


async def add_missing_columns(session: Session, table: str, columns: dict[str, str]) -> None:
    """ALTER TABLE ADD COLUMN for each of `columns` (name -> declaration) the table lacks."""
    present = await table_columns(session, table)
    for name, declaration in columns.items():
        if name not in present:
            await session.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
