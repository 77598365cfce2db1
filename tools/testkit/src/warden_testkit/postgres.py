"""The machine's PostgreSQL for store tests: a schema of its own per test, dropped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Generic, Protocol, TypeVar
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


class OpensAndCloses(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...


S = TypeVar("S", bound=OpensAndCloses)


class Replicas(Generic[S]):
    """Store instances sharing one database, as replicas of a service would: each `open()` is a
    new instance (its own connections) on the same SQLite file or PostgreSQL schema."""

    def __init__(self, build: Callable[[str | None, Path], S], url: str | None, path: Path, stack: AsyncExitStack):
        self.url, self.path, self._build, self._stack = url, path, build, stack

    async def open(self) -> S:
        store = self._build(self.url, self.path)
        await store.open()
        self._stack.push_async_callback(store.close)
        return store


@asynccontextmanager
async def replicas_on(
    backend: str, build: Callable[[str | None, Path], S], sqlite_path: Path, prefix: str
) -> AsyncIterator[Replicas[S]]:
    """`backend` "sqlite" (the file at `sqlite_path`) or "postgres" (a fresh schema, dropped on exit)."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(postgres_schema(prefix)) if backend == "postgres" else None
        yield Replicas(build, url, sqlite_path, stack)
