"""The persistence kit on real SQLite and the machine's PostgreSQL: the pragma policy and file
modes, numbered migrations (once, in order, repaired old databases, replicas starting together),
transactions that commit or roll back, `Conflict` for a lost race, and the dialect's SQL."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from warden_persistence import (
    POSTGRES,
    SQLITE,
    Conflict,
    Database,
    Dialect,
    Migration,
    add_missing_columns,
    backend_of,
    connect_sqlite,
    open_database,
    split_schema,
    table_columns,
)
from warden_persistence.outbox import Outbox, outbox_schema
from warden_testkit.postgres import postgres_schema

MIGRATIONS = [
    Migration(
        1,
        "CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, n INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS items_n ON items (n)",
    ),
    Migration(2, lambda s: add_missing_columns(s, "items", {"label": "TEXT NOT NULL DEFAULT ''"})),
]


@pytest.fixture(params=["sqlite", "postgres"])
async def location(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str | None, Path]]:
    """(store URL, SQLite path): no URL means the SQLite file."""
    if request.param == "sqlite":
        yield None, tmp_path / "state" / "kit.db"
    else:
        async with postgres_schema("kit") as url:
            yield url, tmp_path / "unused.db"


async def test_sqlite_opener_policy_and_private_file_modes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "x.db"
    db = connect_sqlite(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        db.execute("CREATE TABLE t (x)")
    finally:
        db.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


async def test_migrations_run_once_in_order_and_reopen_cleanly(location: tuple[str | None, Path]) -> None:
    url, path = location
    db = await open_database(url, path, MIGRATIONS)
    try:
        async with db.transaction() as s:
            assert await s.all("SELECT version FROM schema_version ORDER BY version") == [(1,), (2,)]
            assert await table_columns(s, "items") == {"id", "n", "label"}
            await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("a", 1))
    finally:
        await db.close()
    more = [*MIGRATIONS, Migration(3, "ALTER TABLE items ADD COLUMN extra TEXT")]
    db = await open_database(url, path, more)
    try:
        async with db.transaction() as s:
            assert await s.all("SELECT version FROM schema_version ORDER BY version") == [(1,), (2,), (3,)]
            assert await s.all("SELECT id, n, label, extra FROM items") == [("a", 1, "", None)]
    finally:
        await db.close()
    with pytest.raises(RuntimeError, match="newer than this code"):
        await open_database(url, path, MIGRATIONS)


async def test_a_database_older_than_its_schema_version_table_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = connect_sqlite(path)
    old.execute("CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
    old.execute("INSERT INTO items VALUES ('a', 7)")
    old.close()
    db = await open_database(None, path, MIGRATIONS)
    try:
        async with db.transaction() as s:
            assert await s.all("SELECT id, n, label FROM items") == [("a", 7, "")]
    finally:
        await db.close()


async def test_replicas_starting_together_migrate_once() -> None:
    async with postgres_schema("kit") as url:
        dbs = await asyncio.gather(*(open_database(url, Path("unused"), MIGRATIONS) for _ in range(3)))
        try:
            async with dbs[0].transaction() as s:
                assert await s.all("SELECT version FROM schema_version ORDER BY version") == [(1,), (2,)]
        finally:
            for db in dbs:
                await db.close()


async def test_a_failed_transaction_writes_nothing(location: tuple[str | None, Path]) -> None:
    url, path = location
    db = await open_database(url, path, MIGRATIONS)
    try:
        with pytest.raises(ZeroDivisionError):
            async with db.transaction() as s:
                await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("a", 1))
                raise ZeroDivisionError
        async with db.transaction() as s:
            assert await s.all("SELECT id FROM items") == []
    finally:
        await db.close()


async def _claim(db: Database, started: asyncio.Event, go: asyncio.Event) -> None:
    async with db.transaction() as s:
        await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("same", 1))
        started.set()
        await go.wait()


async def test_a_unique_key_taken_by_another_replica_is_a_conflict() -> None:
    async with postgres_schema("kit") as url:
        first = await open_database(url, Path("unused"), MIGRATIONS)
        second = await open_database(url, Path("unused"), MIGRATIONS)
        try:
            started, go = asyncio.Event(), asyncio.Event()
            winner = asyncio.create_task(_claim(first, started, go))
            await started.wait()
            loser = asyncio.create_task(_claim(second, asyncio.Event(), asyncio.Event()))
            await asyncio.sleep(0.2)  # the loser now waits on the winner's uncommitted key
            go.set()
            await winner
            with pytest.raises(Conflict, match="UniqueViolation"):
                await loser
        finally:
            await first.close()
            await second.close()


async def _count_under_lock(db: Database, seen: list[int]) -> None:
    async with db.transaction() as s:
        await s.lock("items:counter")
        row = await s.one("SELECT COUNT(*) FROM items")
        assert row is not None
        await asyncio.sleep(0.01)  # yield to the other replica between read and write
        await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", (f"i{row[0]}", row[0]))
        seen.append(int(row[0]))


async def test_a_named_lock_serialises_read_then_write_across_replicas() -> None:
    async with postgres_schema("kit") as url:
        dbs = [await open_database(url, Path("unused"), MIGRATIONS) for _ in range(2)]
        try:
            seen: list[int] = []
            await asyncio.gather(*(_count_under_lock(dbs[i % 2], seen) for i in range(8)))
            assert sorted(seen) == list(range(8))  # no two read the same count
        finally:
            for db in dbs:
                await db.close()


async def test_sessions_answer_alike_on_both_backends(location: tuple[str | None, Path]) -> None:
    url, path = location
    db = await open_database(url, path, MIGRATIONS)
    try:
        async with db.transaction() as s:
            await s.execute(Dialect.upsert("items", ["id", "n", "label"], ["id"]), ("a", 1, "x"))
            await s.execute(Dialect.upsert("items", ["id", "n", "label"], ["id"]), ("a", 2, "y"))
            assert await s.execute(Dialect.insert_ignore("items", ["id", "n"]), ("a", 3)) == 0
            assert await s.execute("UPDATE items SET n = n + 1 WHERE id = ?", ("a",)) == 1
            assert await s.one("SELECT n, label FROM items WHERE id = ?", ("a",)) == (3, "y")
            assert await s.one("SELECT n FROM items WHERE id = ?" + s.dialect.for_update, ("zz",)) is None
            assert await s.one("SELECT '100%' || label FROM items") == ("100%y",)
    finally:
        await db.close()


def test_dialects_and_urls() -> None:
    assert POSTGRES.sql("SELECT ? WHERE x LIKE 'a%'") == "SELECT %s WHERE x LIKE 'a%%'"
    assert SQLITE.sql("SELECT ?") == "SELECT ?"
    assert (SQLITE.for_update, POSTGRES.for_update) == ("", " FOR UPDATE")
    assert POSTGRES.pick(sqlite=1, postgres=2) == 2
    assert split_schema("postgresql://u@h:5432/db?schema=triage&sslmode=disable") == (
        "postgresql://u@h:5432/db?sslmode=disable",
        "triage",
    )
    assert split_schema("postgres://u@h/db") == ("postgres://u@h/db", "public")
    assert split_schema("postgres://u@h/db", "triage") == ("postgres://u@h/db", "triage")
    assert (backend_of(None), backend_of(""), backend_of("postgresql://h/db")) == ("sqlite", "sqlite", "postgres")
    with pytest.raises(ValueError, match="unsupported store URL scheme"):
        backend_of("mysql://h/db")


async def test_a_transaction_cancelled_while_waiting_for_the_lock_leaves_the_connection_usable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    holder = await open_database(None, path, MIGRATIONS)
    waiter = await open_database(None, path, MIGRATIONS)
    try:
        held, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with holder.transaction() as s:
                await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("held", 1))
                held.set()
                await release.wait()

        async def wait_for_lock() -> None:
            async with waiter.transaction() as s:
                await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("never", 2))

        holding = asyncio.create_task(hold())
        await held.wait()
        waiting = asyncio.create_task(wait_for_lock())
        await asyncio.sleep(0.2)  # its BEGIN IMMEDIATE now waits in a thread on the holder's lock
        waiting.cancel()
        release.set()  # the waiter's BEGIN may now succeed in its thread, after the cancel
        await holding
        with pytest.raises(asyncio.CancelledError):
            await waiting
        async with waiter.transaction() as s:
            assert await s.all("SELECT id FROM items") == [("held",)]
    finally:
        await holder.close()
        await waiter.close()


async def test_a_read_sees_what_was_committed_and_waits_for_no_writer(location: tuple[str | None, Path]) -> None:
    url, path = location
    writer = await open_database(url, path, MIGRATIONS)
    reader = await open_database(url, path, MIGRATIONS)
    try:
        async with writer.transaction() as s:
            await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("a", 1))
        async with writer.transaction() as s:
            # Another replica's open write transaction: the read neither waits for it nor sees it.
            await s.execute("UPDATE items SET n = ? WHERE id = ?", (2, "a"))
            async with reader.read() as r:
                assert await r.all("SELECT id, n FROM items") == [("a", 1)]
        async with reader.read() as r:
            assert await r.one("SELECT n FROM items WHERE id = ?", ("a",)) == (2,)
    finally:
        await writer.close()
        await reader.close()


def test_a_read_only_connection_reads_beside_the_writer_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ro.db"
    with pytest.raises(sqlite3.OperationalError):
        connect_sqlite(path, read_only=True)  # never creates the file
    assert not path.exists()
    writer = connect_sqlite(path)
    try:
        writer.execute("CREATE TABLE t (x)")
        writer.execute("INSERT INTO t VALUES (1)")
        with closing(connect_sqlite(path, read_only=True)) as reader:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO t VALUES (2)")
            assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]  # WAL: no wait on the writer
            writer.execute("COMMIT")
            assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (2,)
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.execute("INSERT INTO t VALUES (3)")
    finally:
        writer.close()


async def test_the_outbox_stages_with_the_transaction_and_is_marked_and_purged(
    location: tuple[str | None, Path],
) -> None:
    url, path = location
    db = await open_database(url, path, [Migration(1, lambda s: s.script(outbox_schema(s.dialect, "TEXT")))])
    box = Outbox()
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as s:
                await box.stage(s, "cause-0", [("m0", "rolled back")], "2026-01-01")
                raise RuntimeError("the unit of work failed")
        async with db.transaction() as s:
            await box.stage(s, "cause-1", [("m1", "first"), ("m2", "second")], "2026-01-01")
            await box.stage(s, "cause-2", [("m1", "again"), ("m3", "third")], "2026-01-02")
        async with db.read() as r:
            assert await box.of_cause(r, "cause-1") == ["first", "second"]
            assert await box.of_cause(r, "cause-0") == []
            assert await box.unpublished(r, "2026-01-01", 10) == ["first", "second"]
        async with db.transaction() as s:
            await box.mark_published(s, ["m1", "m3"], "2026-01-03")
            await box.purge(s, "2026-01-05")  # only published rows go
        async with db.read() as r:
            assert await box.unpublished(r, "2026-01-09", 10) == ["second"]
            assert await box.of_cause(r, "cause-2") == []
    finally:
        await db.close()


async def test_a_transaction_that_need_not_be_durable_tells_the_backend_for_itself_only(
    location: tuple[str | None, Path],
) -> None:
    url, path = location
    db = await open_database(url, path, MIGRATIONS)
    setting, lossy = ("PRAGMA synchronous", (1,)) if url is None else ("SHOW synchronous_commit", ("off",))
    try:
        async with db.transaction() as s:
            durable = await s.one(setting)
        assert durable != lossy
        async with db.transaction(durable=False) as s:
            await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("mark", 1))
            assert await s.one(setting) == lossy  # SQLite NORMAL: no fsync at COMMIT
        with pytest.raises(RuntimeError):
            async with db.transaction(durable=False) as s:
                await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("rolled-back", 2))
                raise RuntimeError("abandoned")
        async with db.transaction() as s:
            assert await s.one(setting) == durable  # the next transaction waits for the disk again
        async with db.read() as r:
            assert await r.all("SELECT id FROM items") == [("mark",)]
    finally:
        await db.close()


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the SQLite kit sends to a worker thread from now on (the statement, or the call's name)."""
    from warden_persistence import sqlite as kit_sqlite

    hops: list[str] = []
    real = kit_sqlite._in_thread

    async def counted(fn: Any, *args: Any) -> Any:
        hops.append(str(args[0]) if args else fn.__name__)
        return await real(fn, *args)

    monkeypatch.setattr(kit_sqlite, "_in_thread", counted)
    return hops


async def test_a_transaction_alone_on_the_file_goes_to_a_thread_only_to_commit(
    tmp_path: Path, thread_hops: list[str]
) -> None:
    db = await open_database(None, tmp_path / "alone.db", MIGRATIONS)
    hops = thread_hops
    hops.clear()  # what opening took
    try:
        async with db.transaction() as s:
            await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("a", 1))
        assert hops == ["COMMIT"]  # BEGIN IMMEDIATE took the free lock on the loop
        async with db.read() as r:
            assert await r.one("PRAGMA busy_timeout") == (5000,)  # kept for a wait on another process
    finally:
        await db.close()


async def test_a_commit_without_an_fsync_or_asked_on_the_loop_takes_no_thread(
    tmp_path: Path, thread_hops: list[str]
) -> None:
    db = await open_database(None, tmp_path / "loop.db", MIGRATIONS)
    hops = thread_hops
    hops.clear()  # what opening took
    try:
        async with db.transaction(durable=False) as s:
            await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("mark", 1))
        async with db.transaction(commit_on_loop=True) as s:
            await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("decision", 2))
            assert await s.one("PRAGMA synchronous") == (2,)  # FULL: the fsync, on the loop
        assert hops == []
        with pytest.raises(RuntimeError):
            async with db.transaction(commit_on_loop=True) as s:
                await s.execute("INSERT INTO items (id, n) VALUES (?, ?)", ("rolled-back", 3))
                raise RuntimeError("abandoned")
        async with db.read() as r:
            assert await r.all("SELECT id FROM items ORDER BY n") == [("mark",), ("decision",)]
    finally:
        await db.close()
