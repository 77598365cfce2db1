"""`IncidentStore` on SQLite (aiosqlite), WAL journal, one writer transaction per message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite
from warden_contracts.events import IncidentChanged, Severity

from warden_triage.domain.incidents import (
    AlertLink,
    AlertStatus,
    Incident,
    IncidentStatus,
    IncidentTransaction,
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
    alert_count INTEGER NOT NULL CHECK (alert_count >= 1)
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
CREATE TABLE IF NOT EXISTS unmatched_alerts (
    message_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS processed (
    message_id TEXT PRIMARY KEY,
    processed_at TEXT NOT NULL,
    outcome TEXT
);
"""

_SELECT_INCIDENT = (
    "SELECT id, fingerprint, class, title, service, resource_id, environment, resource_group, "
    "severity, status, opened_at, updated_at, alert_count FROM incidents"
)
_OPEN_INCIDENT = _SELECT_INCIDENT + " WHERE fingerprint = ? AND status = 'open'"
_INCIDENT_BY_ID = _SELECT_INCIDENT + " WHERE id = ?"
_SAVE_INCIDENT = (
    "INSERT OR REPLACE INTO incidents (id, fingerprint, class, title, service, resource_id, environment, "
    "resource_group, severity, status, opened_at, updated_at, alert_count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


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
    )


def _link(row: Any) -> AlertLink:
    return AlertLink(
        alert_id=row[0], incident_id=row[1], status=AlertStatus(row[2]), updated_at=datetime.fromisoformat(row[3])
    )


class SqliteTransaction(IncidentTransaction):
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def _one(self, sql: str, *args: Any) -> Any:
        async with self._db.execute(sql, args) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, *args: Any) -> list[Any]:
        async with self._db.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    async def processed(self, message_id: str) -> Processed | None:
        row = await self._one("SELECT outcome FROM processed WHERE message_id = ?", message_id)
        if row is None:
            return None
        return Processed(IncidentChanged.model_validate_json(row[0]) if row[0] else None)

    async def mark_processed(self, message_id: str, outcome: IncidentChanged | None, at: datetime) -> None:
        await self._db.execute(
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
        await self._db.execute(
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
            ),
        )

    async def links_of_alert(self, alert_id: str) -> list[AlertLink]:
        rows = await self._all(
            "SELECT alert_id, incident_id, status, updated_at FROM alerts WHERE alert_id = ? ORDER BY attached_seq",
            alert_id,
        )
        return [_link(r) for r in rows]

    async def links_of_incident(self, incident_id: str) -> list[AlertLink]:
        rows = await self._all(
            "SELECT alert_id, incident_id, status, updated_at FROM alerts WHERE incident_id = ? ORDER BY attached_seq",
            incident_id,
        )
        return [_link(r) for r in rows]

    async def save_link(self, link: AlertLink) -> None:
        # Upsert that keeps the original attachment order of an alert re-attached to its incident.
        await self._db.execute(
            "INSERT INTO alerts (alert_id, incident_id, status, attached_seq, updated_at) "
            "VALUES (?, ?, ?, (SELECT COALESCE(MAX(attached_seq), 0) + 1 FROM alerts), ?) "
            "ON CONFLICT (alert_id, incident_id) DO UPDATE SET status = excluded.status, "
            "updated_at = excluded.updated_at",
            (link.alert_id, link.incident_id, link.status.value, link.updated_at.isoformat()),
        )

    async def record_unmatched(self, message_id: str, alert_id: str, status: AlertStatus, at: datetime) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO unmatched_alerts (message_id, alert_id, status, received_at) VALUES (?, ?, ?, ?)",
            (message_id, alert_id, status.value, at.isoformat()),
        )


class SqliteIncidentStore:
    """Open with `await store.open()` (the runtime's on_start hook), close with `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        await db.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed incident change survives power loss, matching JetStream's sync_interval.
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute("PRAGMA foreign_keys = ON")
        await db.execute("PRAGMA busy_timeout = 5000")
        await db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[IncidentTransaction]:
        if self._db is None:
            raise RuntimeError("incident store is not open")
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTransaction(db)
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
