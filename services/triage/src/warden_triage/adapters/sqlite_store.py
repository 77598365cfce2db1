"""`IncidentStore` on SQLite, WAL journal, one writer transaction per pull batch of messages.

The statements of a transaction run on the event loop: they are index lookups served from the
page cache in microseconds, and handing each of the ~20 per alert to a worker thread (aiosqlite)
cost ten times more than running it. Only COMMIT, which waits for fsync, goes to a thread.
Transactions never overlap: the incident tracker applies one message or one batch at a time, and
a batch is one transaction (`commits_batches`): one COMMIT, one fsync for all its alerts.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from warden_contracts.events import AlertReceived, IncidentChanged, Severity

from warden_triage.domain.incident_model import (
    AlertLink,
    AlertStatus,
    HeldGroup,
    Incident,
    IncidentStatus,
    IncidentTransaction,
    PendingAlert,
    Processed,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    class TEXT NOT NULL,
    title TEXT NOT NULL,
    service TEXT,
    resource_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    resource_group TEXT,
    severity TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    alert_count INTEGER NOT NULL CHECK (alert_count >= 1),
    owner TEXT,
    commander_channel TEXT,
    services TEXT NOT NULL DEFAULT '[]',
    root_service TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open_per_fingerprint
    ON incidents (fingerprint) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    status TEXT NOT NULL CHECK (status IN ('Fired', 'Resolved')),
    attached_seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (alert_id, incident_id)
);
CREATE INDEX IF NOT EXISTS alerts_by_incident ON alerts (incident_id, attached_seq);
CREATE INDEX IF NOT EXISTS alerts_by_seq ON alerts (attached_seq);
CREATE TABLE IF NOT EXISTS unmatched_alerts (
    message_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT 'unknown-alert'
);
CREATE TABLE IF NOT EXISTS pending_alerts (
    alert_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    alert TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_key ON pending_alerts (key, received_at);
CREATE TABLE IF NOT EXISTS processed (
    message_id TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL,
    outcome TEXT
);
"""

_COLUMNS = (
    "id, fingerprint, class, title, service, resource_id, environment, resource_group, severity, status, "
    "opened_at, updated_at, alert_count, owner, commander_channel, services, root_service"
)
_SELECT_INCIDENT = f"SELECT {_COLUMNS} FROM incidents"  # noqa: S608 (constants only)
# Databases created before a column existed get it added at open (the added ones are all nullable/defaulted).
_ADDED_COLUMNS = {
    "incidents": {
        "owner": "TEXT",
        "commander_channel": "TEXT",
        "services": "TEXT NOT NULL DEFAULT '[]'",
        "root_service": "TEXT",
    },
    "unmatched_alerts": {"reason": "TEXT NOT NULL DEFAULT 'unknown-alert'"},
}
_OPEN_INCIDENT = _SELECT_INCIDENT + " WHERE fingerprint = ? AND status = 'open'"
_INCIDENT_BY_ID = _SELECT_INCIDENT + " WHERE id = ?"
_SAVE_INCIDENT = f"INSERT OR REPLACE INTO incidents ({_COLUMNS}) VALUES ({', '.join('?' * 17)})"  # noqa: S608


def _incident(row: Any) -> Incident:
    return Incident(
        id=row[0],
        fingerprint=row[1],
        incident_class=row[2],
        title=row[3],
        service=row[4],
        resource_id=row[5],
        environment=row[6],
        resource_group=row[7],
        severity=Severity(row[8]),
        status=IncidentStatus(row[9]),
        opened_at=datetime.fromisoformat(row[10]),
        updated_at=datetime.fromisoformat(row[11]),
        alert_count=row[12],
        owner=row[13],
        commander_channel=row[14],
        services=tuple(json.loads(row[15])),
        root_service=row[16],
    )


def _link(row: Any) -> AlertLink:
    return AlertLink(
        alert_id=row[0], incident_id=row[1], status=AlertStatus(row[2]), updated_at=datetime.fromisoformat(row[3])
    )


def _pending(row: Any) -> PendingAlert:
    alert = AlertReceived.model_validate_json(row[4])
    return PendingAlert(row[0], row[1], row[2], datetime.fromisoformat(row[3]), alert)


class SqliteTransaction(IncidentTransaction):
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def _one(self, sql: str, *args: Any) -> Any:
        return self._db.execute(sql, args).fetchone()

    async def _all(self, sql: str, *args: Any) -> list[Any]:
        return self._db.execute(sql, args).fetchall()

    async def processed(self, message_id: str) -> Processed | None:
        row = await self._one("SELECT outcome FROM processed WHERE message_id = ?", message_id)
        if row is None:
            return None
        return Processed(IncidentChanged.model_validate_json(row[0]) if row[0] else None)

    async def mark_processed(self, message_id: str, outcome: IncidentChanged | None, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO processed (message_id, processed_at, outcome) VALUES (?, ?, ?)",
            (message_id, at.isoformat(), outcome.model_dump_json() if outcome else None),
        )

    async def open_incident(self, fingerprint: str) -> Incident | None:
        row = await self._one(_OPEN_INCIDENT, fingerprint)
        return _incident(row) if row else None

    async def incident(self, incident_id: str) -> Incident | None:
        row = await self._one(_INCIDENT_BY_ID, incident_id)
        return _incident(row) if row else None

    async def save_incident(self, incident: Incident) -> None:
        self._db.execute(
            _SAVE_INCIDENT,
            (
                incident.id,
                incident.fingerprint,
                incident.incident_class,
                incident.title,
                incident.service,
                incident.resource_id,
                incident.environment,
                incident.resource_group,
                incident.severity.value,
                incident.status.value,
                incident.opened_at.isoformat(),
                incident.updated_at.isoformat(),
                incident.alert_count,
                incident.owner,
                incident.commander_channel,
                json.dumps(list(incident.services)),
                incident.root_service,
            ),
        )

    async def open_incidents_in(self, environment: str, services: set[str]) -> list[Incident]:
        if not services:
            return []
        marks = ", ".join("?" * len(services))
        joined = f"EXISTS (SELECT 1 FROM json_each(incidents.services) WHERE value IN ({marks}))"  # noqa: S608
        where = f" WHERE status = 'open' AND environment = ? AND (service IN ({marks}) OR {joined})"
        names = sorted(services)
        rows = await self._all(_SELECT_INCIDENT + where, environment, *names, *names)
        return [_incident(r) for r in rows]

    async def count_firing(self, incident_id: str) -> int:
        row = await self._one("SELECT COUNT(*) FROM alerts WHERE incident_id = ? AND status = 'Fired'", incident_id)
        return int(row[0])

    async def add_pending(self, pending: PendingAlert) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO pending_alerts (alert_id, key, message_id, received_at, alert) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                pending.alert_id,
                pending.key,
                pending.message_id,
                pending.received_at.isoformat(),
                pending.alert.model_dump_json(),
            ),
        )

    async def pending(self, key: str) -> list[PendingAlert]:
        rows = await self._all(
            "SELECT key, alert_id, message_id, received_at, alert FROM pending_alerts WHERE key = ? "
            "ORDER BY received_at, rowid",
            key,
        )
        return [_pending(r) for r in rows]

    async def is_pending(self, alert_id: str) -> bool:
        return await self._one("SELECT 1 FROM pending_alerts WHERE alert_id = ?", alert_id) is not None

    async def remove_pending(self, alert_id: str) -> bool:
        cursor = self._db.execute("DELETE FROM pending_alerts WHERE alert_id = ?", (alert_id,))
        return cursor.rowcount > 0

    async def drop_pending(self, key: str) -> None:
        self._db.execute("DELETE FROM pending_alerts WHERE key = ?", (key,))

    async def held_groups(self) -> list[HeldGroup]:
        rows = await self._all(
            "SELECT key, alert_id, message_id, received_at, alert, held FROM ("
            "SELECT *, COUNT(*) OVER (PARTITION BY key) AS held, "
            "ROW_NUMBER() OVER (PARTITION BY key ORDER BY received_at, rowid) AS position FROM pending_alerts"
            ") WHERE position = 1"
        )
        return [HeldGroup(r[0], _pending(r), r[5]) for r in rows]

    async def links_of_alert(self, alert_id: str) -> list[AlertLink]:
        rows = await self._all(
            "SELECT alert_id, incident_id, status, updated_at FROM alerts WHERE alert_id = ? ORDER BY attached_seq",
            alert_id,
        )
        return [_link(r) for r in rows]

    async def links_of_incident(self, incident_id: str, *, limit: int | None = None) -> list[AlertLink]:
        rows = await self._all(
            "SELECT alert_id, incident_id, status, updated_at FROM alerts WHERE incident_id = ? "
            "ORDER BY attached_seq LIMIT ?",
            incident_id,
            -1 if limit is None else limit,
        )
        return [_link(r) for r in rows]

    async def save_link(self, link: AlertLink) -> None:
        # Upsert that keeps the original attachment order of an alert re-attached to its incident.
        self._db.execute(
            "INSERT INTO alerts (alert_id, incident_id, status, attached_seq, updated_at) "
            "VALUES (?, ?, ?, (SELECT COALESCE(MAX(attached_seq), 0) + 1 FROM alerts), ?) "
            "ON CONFLICT (alert_id, incident_id) DO UPDATE SET status = excluded.status, "
            "updated_at = excluded.updated_at",
            (link.alert_id, link.incident_id, link.status.value, link.updated_at.isoformat()),
        )

    async def record_unmatched(
        self, message_id: str, alert_id: str, status: AlertStatus, at: datetime, reason: str
    ) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO unmatched_alerts (message_id, alert_id, status, received_at, reason) "
            "VALUES (?, ?, ?, ?, ?)",
            (message_id, alert_id, status.value, at.isoformat(), reason),
        )


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}
        for name, decl in columns.items():
            if name not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


class SqliteIncidentStore:
    """Open with `await store.open()` (the runtime's on_start hook), close with `close()`."""

    commits_batches = True  # one transaction may hold many messages (each marked processed)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await asyncio.to_thread(self._connect)

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread off: COMMIT runs in a worker thread, never concurrently with anything.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed incident change survives power loss, matching JetStream's sync_interval.
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 5000")
        db.executescript(SCHEMA)
        _add_missing_columns(db)
        return db

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[IncidentTransaction]:
        if self._db is None:
            raise RuntimeError("incident store is not open")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTransaction(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        await asyncio.to_thread(db.execute, "COMMIT")
