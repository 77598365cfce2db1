"""The machine's PostgreSQL for store tests: a schema of its own per test, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

from warden_persistence import PostgresDatabase

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def unique_schema(prefix: str = "test") -> str:
    return f"{prefix}_{uuid4().hex[:16]}"


async def drop_schema(schema: str) -> None:
    db = await PostgresDatabase.open(POSTGRES_URL, schema="public", pool_size=1)
    try:
        async with db.transaction() as session:
            await session.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await db.close()


@asynccontextmanager
async def postgres_schema(prefix: str = "test") -> AsyncIterator[str]:
    """A store URL `postgresql://...?schema=<unique>`; the schema is dropped on exit."""
    schema = unique_schema(prefix)
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        await drop_schema(schema)
