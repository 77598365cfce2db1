"""PostgreSQL for stores shared by several replicas: a psycopg 3 pool on one schema.

The URL is `postgresql://user@host:port/db?schema=name`: `schema` is ours (psycopg would refuse
it), the rest goes to libpq. The schema is created at open, under an advisory lock so replicas
starting together do not race each other's CREATE. Every connection's search_path is that schema,
so store SQL names its tables unqualified.

Transactions are READ COMMITTED; safety between replicas comes from the writes themselves
(unique keys, `ON CONFLICT`, compare-and-set UPDATEs) and from row or advisory locks
(`Session.lock`). A deadlock, serialization failure or unique violation surfaces as `Conflict`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from warden_persistence.database import Conflict, Row, Session, statements
from warden_persistence.dialect import POSTGRES, Dialect
from warden_persistence.postgres_url import split_schema

_LOST_RACE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure, psycopg.errors.UniqueViolation)


class PostgresSession:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return POSTGRES

    @property
    def connection(self) -> psycopg.AsyncConnection[Any]:
        return self._conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._conn.execute(POSTGRES.sql(sql), params)
        return cursor.rowcount

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cursor = await self._conn.execute(POSTGRES.sql(sql), params)
        row: Row | None = await cursor.fetchone()
        return row

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = await self._conn.execute(POSTGRES.sql(sql), params)
        return list(await cursor.fetchall())

    async def script(self, sql: str) -> None:
        for statement in statements(sql):
            await self._conn.execute(statement)

    async def lock(self, name: str) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))


class PostgresDatabase:
    """Open with `await PostgresDatabase.open(url)`; one pooled connection per transaction."""

    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool: AsyncConnectionPool | None = pool
        self.schema = schema

    @classmethod
    async def open(
        cls, url: str, *, schema: str | None = None, default_schema: str = "public", pool_size: int = 4
    ) -> PostgresDatabase:
        """`schema` overrides the URL's `?schema=`, `default_schema` applies when it names none;
        the schema is created if missing. Each store needs a schema of its own: the schema
        holds that store's `schema_version`."""
        conninfo, url_schema = split_schema(url, default_schema)
        name = schema or url_schema

        async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(name)))
            await conn.commit()

        pool = AsyncConnectionPool(conninfo, min_size=1, max_size=pool_size, configure=configure, open=False)
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('warden-create-schema'))")
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
        except BaseException:
            await pool.close()
            raise
        return cls(pool, name)

    @property
    def dialect(self) -> Dialect:
        return POSTGRES

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("the database is closed")
        return self._pool

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True, commit_on_loop: bool = False) -> AsyncIterator[Session]:
        # commit_on_loop: psycopg's async COMMIT never blocks the loop; nothing to choose.
        async with self.pool.connection() as conn:
            try:
                async with conn.transaction():
                    if not durable:
                        await conn.execute("SET LOCAL synchronous_commit TO OFF")
                    yield PostgresSession(conn)
            except _LOST_RACE as err:
                raise Conflict(f"{type(err).__name__}: {err}") from err

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Session]:
        async with self.pool.connection() as conn:
            yield PostgresSession(conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
