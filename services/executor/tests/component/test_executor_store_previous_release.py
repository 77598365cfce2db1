"""An executor.db written by the previous release (aiosqlite store at 04b8e8c: no schema_version,
no holder or lease columns) opens on the persistence-kit store, which migrates it and reads its
ledger, drain journal and kill switches as they were; an unheld started row is claimed at once.

The file is built with that release's schema and statements (stdlib sqlite3, as its store wrote
them), not with the current store, so the test breaks if a migration stops covering old files."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warden_executor.adapters.sql_store import SqlControls, SqlDrainJournal, SqlLedger, SqlStore
from warden_executor.domain.controls import KillSwitch
from warden_executor.domain.model import LedgerEntry, LedgerState

# services/executor/src/warden_executor/adapters/sqlite_store.py at 04b8e8c: SCHEMA, then the
# columns its open() added to files of the release before it (LEDGER_ADDITIONS).
PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    action_id   TEXT PRIMARY KEY,
    envelope_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('started', 'done')),
    outcome     TEXT,
    detail      TEXT NOT NULL DEFAULT '',
    before      TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS drain_journal (
    drain_id  TEXT PRIMARY KEY,
    reason    TEXT NOT NULL,
    opened_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kill_switch (
    scope      TEXT PRIMARY KEY,
    engaged    INTEGER NOT NULL,
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT ''
);
"""
PREVIOUS_ADDITIONS = {"envelope": "TEXT", "announced_at": "TEXT", "observed": "TEXT"}
PREVIOUS_INSERT = (
    "INSERT OR IGNORE INTO ledger (action_id, envelope_id, incident_id, kind, target, state, outcome, "
    "detail, started_at, finished_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

T0 = "2026-11-30T09:00:00.000000+00:00"
T1 = "2026-11-30T09:00:05.000000+00:00"
SWITCHED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
APPROVED_ENVELOPE = json.dumps({"id": "env-started", "type": "sre.action.approved.v1"})


def previous_release_file(path: Path) -> None:
    """What that release's store left: a finished action, one started and announced mid-crash,
    a drain left open and an engaged kill switch."""
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(PREVIOUS_SCHEMA)
        for column, sql_type in PREVIOUS_ADDITIONS.items():
            db.execute(f"ALTER TABLE ledger ADD COLUMN {column} {sql_type}")
        db.execute(
            PREVIOUS_INSERT,
            ("act-done", "env-done", "inc-1", "restart_service", "checkout", "done", "verified", "ok", T0, T1, None),
        )
        db.execute(
            PREVIOUS_INSERT,
            (
                "act-started",
                "env-started",
                "inc-2",
                "scale_out",
                "cart",
                "started",
                None,
                "",
                T1,
                None,
                APPROVED_ENVELOPE,
            ),
        )
        db.execute("UPDATE ledger SET before = ? WHERE action_id = ?", (json.dumps({"replicas": 2}), "act-started"))
        db.execute(
            "UPDATE ledger SET announced_at = ?, observed = ? WHERE action_id = ?",
            (T1, json.dumps({"replicas": 2, "ready": 2}), "act-started"),
        )
        db.execute(
            "INSERT OR REPLACE INTO drain_journal (drain_id, reason, opened_at) VALUES (?, ?, ?)",
            ("drain-1", "shutdown", T1),
        )
        db.execute(
            "INSERT INTO kill_switch (scope, engaged, changed_at, changed_by, reason) VALUES (?, ?, ?, ?, ?)",
            ("global", 1, SWITCHED.isoformat(timespec="microseconds"), "oncall@example.com", "freeze"),
        )
        db.commit()
    finally:
        db.close()


@pytest.fixture
async def migrated(tmp_path: Path):
    path = tmp_path / "state" / "executor.db"
    previous_release_file(path)
    store = SqlStore(path, holder="executor-new")
    await store.open()
    yield store
    await store.close()


async def test_the_ledger_of_the_previous_release_reads_as_it_was(migrated: SqlStore) -> None:
    ledger = SqlLedger(migrated)
    assert await ledger.get("act-done") == LedgerEntry(
        action_id="act-done",
        envelope_id="env-done",
        incident_id="inc-1",
        kind="restart_service",
        target="checkout",
        state=LedgerState.DONE,
        outcome="verified",
        detail="ok",
    )
    started = LedgerEntry(
        action_id="act-started",
        envelope_id="env-started",
        incident_id="inc-2",
        kind="scale_out",
        target="cart",
        state=LedgerState.STARTED,
        before={"replicas": 2},
        envelope=APPROVED_ENVELOPE,
        announced=True,
        observed={"replicas": 2, "ready": 2},
    )
    assert await ledger.get("act-started") == started
    # A row of that release names no holder: the restarted executor recovers it at once.
    assert await ledger.unfinished() == [started]
    assert await ledger.claim("act-started") == started
    assert await ledger.announce("act-started", {"replicas": 2, "ready": 2})
    await ledger.finish("act-started", "verified", "recovered after upgrade")
    finished = await ledger.get("act-started")
    assert finished is not None and finished.state is LedgerState.DONE and finished.outcome == "verified"
    assert await ledger.unfinished() == []
    # The insert-if-absent still guards an old action id against a second run.
    assert not await ledger.start(
        LedgerEntry("act-done", "env-x", "inc-1", "restart_service", "checkout", LedgerState.STARTED)
    )


async def test_the_drain_journal_and_kill_switches_of_the_previous_release_read_as_they_were(
    migrated: SqlStore,
) -> None:
    assert await SqlDrainJournal(migrated).left_open() == ["drain-1"]
    controls = SqlControls(migrated)
    engaged = KillSwitch(
        scope="global", engaged=True, changed_at=SWITCHED, changed_by="oncall@example.com", reason="freeze"
    )
    assert await controls.kill_switches() == [engaged]
    older = KillSwitch(scope="global", engaged=False, changed_at=SWITCHED.replace(hour=7), changed_by="x")
    assert not await controls.save_kill_switch(older)  # an older change still loses to the stored one
    assert await controls.kill_switches() == [engaged]


async def test_the_migrated_file_opens_again_without_change(tmp_path: Path) -> None:
    path = tmp_path / "state" / "executor.db"
    previous_release_file(path)
    for _ in range(2):
        store = SqlStore(path, holder="executor-new")
        await store.open()
        try:
            assert [e.action_id for e in await SqlLedger(store).unfinished()] == ["act-started"]
        finally:
            await store.close()
    db = sqlite3.connect(path)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(ledger)")}
    finally:
        db.close()
    assert {"holder", "lease_until", "envelope", "announced_at", "observed"} <= columns
