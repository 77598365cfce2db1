"""The port every store writes its SQL against: a database that hands out transactions."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from warden_persistence.dialect import Dialect

Row = tuple[Any, ...]


class Conflict(Exception):
    """Another writer won a race (deadlock, serialization failure, a unique key taken meanwhile):
    the transaction was rolled back, wrote nothing, and the unit of work may be tried again."""


class Session(Protocol):
    """One open transaction. SQL uses `?` placeholders whatever the backend."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; the number of rows it changed."""

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def script(self, sql: str) -> None:
        """Runs `;`-separated statements without parameters (none may contain a `;` itself)."""

    async def lock(self, name: str) -> None:
        """Holds a lock on `name` until the transaction ends: the other replicas wait for it.
        PostgreSQL: a transaction-level advisory lock. SQLite: nothing more to do, the write
        transaction already holds the database's only write lock."""


class Database(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    def transaction(
        self, *, durable: bool = True, commit_on_loop: bool = False
    ) -> AbstractAsyncContextManager[Session]:
        """Commits on normal exit, rolls back on an exception (a lost race surfaces as `Conflict`).
        `durable=False`: the commit returns before it is on disk (SQLite synchronous=NORMAL,
        PostgreSQL synchronous_commit off), so an OS crash or power loss may undo it; a later
        durable commit covers it. Only for writes the design can lose (marking outbox rows sent).
        `commit_on_loop`: SQLite runs a durable COMMIT (its fsync) on the event loop instead of a
        worker thread, for a caller that can do nothing else until it is on disk; same durability."""

    def read(self) -> AbstractAsyncContextManager[Session]:
        """For reads only, outside any write transaction: each statement sees what was committed
        when it ran (no snapshot across statements, as under READ COMMITTED). SQLite: no BEGIN
        IMMEDIATE, so no write lock and no thread hop; PostgreSQL: one pooled connection."""

    async def close(self) -> None: ...


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
