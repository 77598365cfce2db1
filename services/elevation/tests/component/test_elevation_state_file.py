"""The authority's state file through the persistence kit: a new file is private (0600 in a 0700
folder) and migrated once for both stores sharing it; a file made before the migrations were
numbered (both tables, no schema_version) opens with its rows."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warden_elevation.adapters.sqlite_grants import SqliteGrantStore
from warden_elevation.adapters.sqlite_tickets import SqliteTicketStore

OLD_SCHEMA = """
CREATE TABLE tickets (action_id TEXT PRIMARY KEY, principal TEXT NOT NULL, not_after TEXT NOT NULL,
  received_at TEXT NOT NULL, released_at TEXT, body TEXT NOT NULL);
CREATE TABLE grants (grant_id TEXT PRIMARY KEY, principal TEXT NOT NULL, expires_at REAL NOT NULL,
  justification TEXT NOT NULL, secret_sha256 TEXT NOT NULL, ticket TEXT NOT NULL);
"""


async def _open_both(path: Path) -> tuple[SqliteTicketStore, SqliteGrantStore]:
    tickets, grants = SqliteTicketStore(path), SqliteGrantStore(path)
    await grants.open()  # whichever opens first creates every table of the file
    await tickets.open()
    return tickets, grants


async def test_a_new_state_file_is_private_and_migrated_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "elevation.db"
    tickets, grants = await _open_both(path)
    try:
        assert await tickets.get("nope") is None and await grants.live() == []
    finally:
        await tickets.close()
        await grants.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [(1,), (2,), (3,)]


async def test_a_file_made_before_numbered_migrations_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "elevation.db"
    not_after = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO tickets VALUES ('act-1', 'sp-1', ?, ?, NULL, '{}')", (not_after, datetime.now(UTC).isoformat())
        )
    tickets, grants = await _open_both(path)
    try:
        assert await grants.live() == []
        async with tickets.db.transaction() as s:
            assert await s.all("SELECT action_id, principal FROM tickets") == [("act-1", "sp-1")]
    finally:
        await tickets.close()
        await grants.close()
