"""The one SQLite opener and its pragma policy, and `SqliteDatabase` for stores written on it.

Pragmas: WAL (readers never block the writer), synchronous=FULL (a committed change survives
power loss, matching JetStream's `sync_interval: always`), foreign keys enforced, and a busy
timeout so a second process sharing the file waits for the write lock instead of failing.
A new database file is created 0600 in a folder created 0700: it holds incident and audit data.

`SqliteDatabase` runs statements on the event loop (index lookups served from the page cache in
microseconds; a worker-thread hop per statement cost ten times more) and only the calls that may
wait in a thread: COMMIT (for fsync), and BEGIN IMMEDIATE when another process holds the write
lock (it is tried on the loop first without waiting: alone on the file, it takes the lock at once).

`transaction(durable=False)` commits with synchronous=NORMAL: no fsync, so an OS crash or power
loss may roll that transaction back (a killed process loses nothing: the WAL is written), never
corrupts the file, and the next durable commit's fsync covers it too. Only for writes the design
can lose, such as marking outbox rows sent (a lost mark republishes the same ids, which the
broker and every consumer drop). Without an fsync to wait for, that COMMIT runs on the loop.

`transaction(commit_on_loop=True)`: a durable COMMIT on the loop too, fsync included. For a caller
that waits for its commit before anything else can go on (a decision that is published only once
it is on disk): a worker thread's two wake-ups cost more than the loop loses while it is blocked.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from warden_persistence.database import Row, Session, statements
from warden_persistence.dialect import SQLITE, Dialect

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
DURABLE = "PRAGMA synchronous = FULL"
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    DURABLE,
    "PRAGMA foreign_keys = ON",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
)


def _private_file(path: Path) -> None:
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    if not path.exists():
        # O_EXCL: a file another process created meanwhile keeps its own mode. SQLite gives its
        # -wal and -shm files the mode of the database file.
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def connect_sqlite(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Opens (creating if needed) the database at `path` with the pragma policy.

    Autocommit mode (`isolation_level=None`): transactions are explicit (`BEGIN IMMEDIATE`).
    `check_same_thread=False`: COMMIT may run in a worker thread, never concurrently with another call.
    `read_only`: for inspecting another process's database: it must exist, nothing is created or
    written (SQLite refuses writes), and the journal mode stays the writer's (WAL: reads go on
    while it writes); only the busy timeout applies.
    """
    if read_only:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        pragmas: tuple[str, ...] = (f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",)
    else:
        _private_file(path)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        pragmas = PRAGMAS
    try:
        for pragma in pragmas:
            db.execute(pragma)
    except BaseException:
        db.close()
        raise
    return db


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    # A cancelled caller still waits for the thread: the connection must not be used meanwhile.
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


class SqliteSession:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for SQLite-only work (PRAGMA table_info in a migration)."""
        return self._db

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._db.execute(sql, params).fetchone()
        return row

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._db.execute(sql, params).fetchall())

    async def script(self, sql: str) -> None:
        # Not executescript: it would COMMIT the open transaction first.
        for statement in statements(sql):
            self._db.execute(statement)

    async def lock(self, name: str) -> None:
        return None


class SqliteDatabase:
    """One connection; its transactions run one at a time (a single sqlite3 connection cannot
    interleave them). Other processes sharing the file are excluded by SQLite's own lock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db: sqlite3.Connection | None = db
        self._turn = asyncio.Lock()
        self._busy_timeout_ms: int | None = None  # the connection's own, read on first use

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        return cls(await _in_thread(connect_sqlite, path))

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    @property
    def connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the database is closed")
        return self._db

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True, commit_on_loop: bool = False) -> AsyncIterator[Session]:
        on_loop = commit_on_loop or not durable  # NORMAL: the COMMIT writes the WAL, no fsync
        async with self._turn:
            db = self.connection
            if not durable:
                db.execute("PRAGMA synchronous = NORMAL")
            try:
                await self._begin(db)
                try:
                    yield SqliteSession(db)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                try:
                    if on_loop:
                        db.execute("COMMIT")
                    else:
                        await _in_thread(db.execute, "COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            finally:
                if not durable:
                    db.execute(DURABLE)

    async def _begin(self, db: sqlite3.Connection) -> None:
        if self._busy_timeout_ms is None:
            self._busy_timeout_ms = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
        db.execute("PRAGMA busy_timeout = 0")
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # primary code
                raise
        finally:
            db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        # Another process holds the write lock: wait for it (up to the busy timeout) in a thread.
        try:
            await _in_thread(db.execute, "BEGIN IMMEDIATE")
        except BaseException:
            # Cancelled while waiting for another process's lock: the BEGIN may still have
            # succeeded in its thread, and the connection must not stay inside it.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Session]:
        # Autocommit SELECTs: WAL readers take no write lock; the turn keeps them out of an open
        # write transaction on this same connection (they would see its uncommitted rows).
        async with self._turn:
            yield SqliteSession(self.connection)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
