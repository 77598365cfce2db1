"""A planner.db written by the previous release (aiosqlite store at 04b8e8c: no schema_version, no
record versions, no outbox claims) opens on the persistence-kit store, which migrates it and reads
its incidents, processed ids, controls and unsent outbox as they were; an old record is written
again over version 1 and an old unsent message is claimed and sent once.

The file is built with that release's schema and statements (stdlib sqlite3, as its store wrote
them), not with the current store, so the test breaks if a migration stops covering old files."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import EscalationRaised
from warden_planner.adapters.sql_store import SqlStore
from warden_planner.domain.records import AlreadyProcessed

# services/planner/src/warden_planner/adapters/sqlite_store.py at 04b8e8c.
PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (incident_id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS controls (key TEXT PRIMARY KEY, value TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0
);
"""
PREVIOUS_INCIDENT = (
    "INSERT INTO incidents (incident_id, body, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(incident_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at"
)

NOW = datetime.now(UTC)


def body(incident_id: str, **fields: object) -> str:
    """An IncidentRecord as that release's pydantic model dumped it (every field, no version)."""
    record: dict[str, object] = {
        "incident_id": incident_id,
        "correlationid": incident_id,
        "incident_class": "memory_pressure",
        "severity": "Sev2",
        "environment": "dev",
        "resource_group": "rg-shop",
        "target": "checkout",
        "closed": False,
        "escalated": False,
        "outstanding": False,
        "attempt": 0,
        "rechecks": 0,
        "first_recheck_at": None,
        "recovered_at": None,
        "last_cause_id": "",
        "findings": [],
        "runbook": "",
        "hypotheses": [],
        "candidates": [],
        "tried": [],
        "actions": {},
        "evidence": [],
        "timeline": [],
        "planner": "",
        "summary": "",
        "trace": [],
    }
    record.update(fields)
    return json.dumps(record)


def letter(incident_id: str) -> Envelope:
    return envelope_for(
        "sre.escalation.raised.v1",
        EscalationRaised(incident_id=incident_id, reason="r", raised_by="warden-planner"),
        source="warden/planner",
        correlationid=incident_id,
    )


UNSENT, SENT = letter("inc-planned"), letter("inc-recovered")
CANDIDATE = {"kind": "restart_service", "target": "checkout", "rationale": "leak", "confidence": 0.8}


def previous_release_file(path: Path) -> None:
    """What that release's store left: a planned incident awaiting its outcome, one found
    recovered, processed ids (one past the retention), a control and an outbox with one row
    still unsent."""
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(PREVIOUS_SCHEMA)
        at = NOW.isoformat()
        planned = body(
            "inc-planned",
            outstanding=True,
            attempt=1,
            last_cause_id="m-2",
            runbook="memory_pressure@1",
            candidates=[CANDIDATE],
            actions={"act-1": "restart_service"},
            timeline=["planned restart_service"],
            planner="runbook",
        )
        db.execute(PREVIOUS_INCIDENT, ("inc-planned", planned, at))
        recovered = body("inc-recovered", recovered_at=(NOW - timedelta(minutes=3)).isoformat(), rechecks=1)
        db.execute(PREVIOUS_INCIDENT, ("inc-recovered", recovered, at))
        db.execute(PREVIOUS_INCIDENT, ("inc-closed", body("inc-closed", closed=True), at))
        for message_id, when in (("m-1", NOW - timedelta(days=40)), ("m-2", NOW)):
            db.execute("INSERT OR IGNORE INTO processed (message_id, at) VALUES (?, ?)", (message_id, when.isoformat()))
        db.execute(
            "INSERT INTO controls (key, value, at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, at = excluded.at",
            ("kill_switch:global", "on", at),
        )
        for envelope in (SENT, UNSENT):
            db.execute(
                "INSERT OR IGNORE INTO outbox (id, body) VALUES (?, ?)", (envelope.id, envelope.to_bytes().decode())
            )
        db.execute("UPDATE outbox SET sent = 1 WHERE id = ?", (SENT.id,))
        db.commit()
    finally:
        db.close()


@pytest.fixture
async def migrated(tmp_path: Path):
    path = tmp_path / "state" / "planner.db"
    previous_release_file(path)
    store = SqlStore(path)
    await store.open()
    yield store
    await store.close()


async def test_the_records_of_the_previous_release_read_as_they_were(migrated: SqlStore) -> None:
    planned = await migrated.load("inc-planned")
    assert planned is not None
    assert planned.version == 1  # a record stored before versions is at the version a first commit writes
    assert (planned.outstanding, planned.attempt, planned.last_cause_id) == (True, 1, "m-2")
    assert [c.kind for c in planned.candidates] == ["restart_service"] and planned.actions == {
        "act-1": "restart_service"
    }
    assert (planned.target, planned.resource_group, planned.timeline) == (
        "checkout",
        "rg-shop",
        ["planned restart_service"],
    )
    assert [r.incident_id for r in await migrated.recovered_open()] == ["inc-recovered"]
    closed = await migrated.load("inc-closed")
    assert closed is not None and closed.closed
    assert await migrated.controls() == {"kill_switch:global": "on"}


async def test_processed_ids_of_the_previous_release_still_stop_a_redelivery(migrated: SqlStore) -> None:
    assert await migrated.seen("m-2")
    assert not await migrated.seen("m-1")  # past the retention: purged on open, as before
    with pytest.raises(AlreadyProcessed):
        await migrated.commit("m-2", control=("kill_switch:global", "off"))
    assert await migrated.controls() == {"kill_switch:global": "on"}


async def test_an_old_record_changes_over_version_1_and_its_unsent_message_goes_out_once(migrated: SqlStore) -> None:
    planned = await migrated.load("inc-planned")
    assert planned is not None
    planned.outstanding = False
    await migrated.commit("m-3", record=planned)
    reloaded = await migrated.load("inc-planned")
    assert reloaded is not None and reloaded.version == 2 and not reloaded.outstanding
    # The sent row was dropped on open; the unsent one is claimable like a new one.
    assert [e.id for e in await migrated.unsent()] == [UNSENT.id]
    claimed = await migrated.claim_unsent("planner-new", NOW, timedelta(seconds=30))
    assert claimed == [UNSENT]
    await migrated.mark_sent(UNSENT.id)
    assert await migrated.claim_unsent("planner-new", NOW, timedelta(seconds=30)) == []


async def test_the_migrated_file_opens_again_without_change(tmp_path: Path) -> None:
    path = tmp_path / "state" / "planner.db"
    previous_release_file(path)
    for _ in range(2):
        store = SqlStore(path)
        await store.open()
        try:
            record = await store.load("inc-planned")
            assert record is not None and record.version == 1
        finally:
            await store.close()
    db = sqlite3.connect(path)
    try:
        version = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        outbox = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
        incidents = {row[1] for row in db.execute("PRAGMA table_info(incidents)")}
    finally:
        db.close()
    assert version == (4,)
    assert {"claimed_by", "claimed_until"} <= outbox and "version" in incidents
