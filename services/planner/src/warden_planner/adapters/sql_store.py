"""`PlannerStore` in SQL: incident records, processed ids, controls and an outbox, on SQLite
(embedded, one file under `<data>/state/`) or PostgreSQL (several replicas sharing a schema).

One SQL body for both (the persistence kit's dialect fills in the differences). Every commit is one
transaction whose writes decide between replicas: the message id is taken by a unique insert (a
redelivery handled by another replica raises AlreadyProcessed), and the incident record changes
only over the version it was read at (the loser raises Conflict, reads again and decides again).
So an incident is planned once however many replicas receive its updates.

The outbox is claimed, not just read: a replica takes unsent rows for a lease (claimed_by,
claimed_until, compare-and-set under `FOR UPDATE SKIP LOCKED` on PostgreSQL), so of two replicas
flushing at once each row is published by one; a claimer that died leaves its rows to the others
once the lease lapsed. SQLite has one process, whose flush takes every unsent row as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import warden_persistence as kit
from warden_contracts.envelope import Envelope
from warden_persistence import Database, DatabaseOwner, Migration, Session

from warden_planner.domain.records import AlreadyProcessed, Conflict, IncidentRecord

# Redeliveries arrive within minutes; a month of processed ids is far beyond any broker retention.
PROCESSED_RETENTION = timedelta(days=30)
DEFAULT_SCHEMA = "planner"
# Found recovered, neither closed nor escalated (the record is JSON text on both backends).
RECOVERED_OPEN_SQLITE = (
    "json_extract(body, '$.recovered_at') IS NOT NULL "
    "AND NOT json_extract(body, '$.closed') AND NOT json_extract(body, '$.escalated')"
)
RECOVERED_OPEN_POSTGRES = (
    "body::jsonb ->> 'recovered_at' IS NOT NULL "
    "AND NOT (body::jsonb ->> 'closed')::boolean AND NOT (body::jsonb ->> 'escalated')::boolean"
)

OUTBOX_INSERT = kit.Dialect.insert_ignore("outbox", ("id", "body"))


async def _tables(session: Session) -> None:
    # IF NOT EXISTS: a planner.db from before numbered migrations is at version 0 and has them.
    seq = session.dialect.pick(sqlite="INTEGER PRIMARY KEY AUTOINCREMENT", postgres="BIGSERIAL PRIMARY KEY")
    await session.script(
        f"""
        CREATE TABLE IF NOT EXISTS incidents (
          incident_id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, at TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS controls (key TEXT PRIMARY KEY, value TEXT NOT NULL, at TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS outbox (
          seq {seq}, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0
        )
        """
    )


async def _record_versions(session: Session) -> None:
    # A record stored before versions existed is at version 1, the version a first commit writes.
    await kit.add_missing_columns(session, "incidents", {"version": "INTEGER NOT NULL DEFAULT 1"})


async def _outbox_claims(session: Session) -> None:
    # Which replica is publishing an unsent row, and until when (epoch seconds).
    real = session.dialect.pick(sqlite="REAL", postgres="DOUBLE PRECISION")
    await kit.add_missing_columns(session, "outbox", {"claimed_by": "TEXT", "claimed_until": real})


MIGRATIONS = (
    Migration(1, _tables),
    Migration(2, _record_versions),
    Migration(3, "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (sent, seq)"),
    Migration(4, _outbox_claims),
)

# An unsent row a replica may take: its own, an unclaimed one, or one whose claim lapsed.
CLAIMABLE = " AND (claimed_by = ? OR claimed_by IS NULL OR COALESCE(claimed_until, 0) < ?)"


class SqlStore(DatabaseOwner):
    """`url` None: SQLite at `sqlite_path`; `postgresql://user@host/db?schema=name` (default
    schema `planner`): PostgreSQL."""

    store_name = "the planner store"

    def __init__(self, sqlite_path: Path, url: str | None = None) -> None:
        kit.backend_of(url)  # a bad URL stops the composition root, not the first message
        self._path = sqlite_path
        self._url = url
        self._db: Database | None = None

    async def open(self) -> None:
        # Its own schema unless the URL names one: a schema holds one store's schema_version.
        db = await kit.open_database(self._url, self._path, MIGRATIONS, default_schema=DEFAULT_SCHEMA)
        cutoff = (datetime.now(UTC) - PROCESSED_RETENTION).isoformat()
        async with db.transaction() as s:
            await s.execute("DELETE FROM processed WHERE at < ?", (cutoff,))
            await s.execute("DELETE FROM outbox WHERE sent = 1")
        self._db = db

    async def seen(self, message_id: str) -> bool:
        async with self.db.read() as s:
            return await s.one("SELECT 1 FROM processed WHERE message_id = ?", (message_id,)) is not None

    async def load(self, incident_id: str) -> IncidentRecord | None:
        async with self.db.read() as s:
            row = await s.one("SELECT body, version FROM incidents WHERE incident_id = ?", (incident_id,))
        return _record(row[0], row[1]) if row else None

    async def controls(self) -> dict[str, str]:
        async with self.db.read() as s:
            return {key: value for key, value in await s.all("SELECT key, value FROM controls")}

    async def commit(
        self,
        message_id: str,
        *,
        record: IncidentRecord | None = None,
        control: tuple[str, str] | None = None,
        outgoing: Sequence[Envelope] = (),
    ) -> None:
        now = datetime.now(UTC).isoformat()
        try:
            async with self.db.transaction() as s:
                if not await s.execute(kit.Dialect.insert_ignore("processed", ("message_id", "at")), (message_id, now)):
                    raise AlreadyProcessed(message_id)
                if record is not None:
                    await _write_record(s, record, now)
                if control is not None:
                    await s.execute(kit.Dialect.upsert("controls", ("key", "value", "at"), ("key",)), (*control, now))
                for env in outgoing:
                    await s.execute(OUTBOX_INSERT, (env.id, env.to_bytes().decode()))
        except kit.Conflict as err:  # deadlock or a key taken meanwhile: decide again
            raise Conflict(str(err)) from err
        if record is not None:
            record.version += 1

    async def recovered_open(self) -> list[IncidentRecord]:
        async with self.db.read() as s:
            rows = await s.all(
                "SELECT body, version FROM incidents WHERE "  # noqa: S608 (one of two constants)
                + s.dialect.pick(sqlite=RECOVERED_OPEN_SQLITE, postgres=RECOVERED_OPEN_POSTGRES)
            )
        return [_record(body, version) for body, version in rows]

    async def unsent(self) -> list[Envelope]:
        async with self.db.read() as s:
            rows = await s.all("SELECT body FROM outbox WHERE sent = 0 ORDER BY seq")
        return [Envelope.from_bytes(row[0].encode()) for row in rows]

    async def claim_unsent(self, claimer: str, now: datetime, lease: timedelta, limit: int = 100) -> list[Envelope]:
        """Up to `limit` unsent messages, oldest first, taken by `claimer` until `now + lease`.
        PostgreSQL: rows another replica holds (a live claim, or locked by its claim right now)
        are skipped. SQLite: one process, every unsent row (its flushes are serialized)."""
        at = now.timestamp()
        async with self.db.transaction() as s:
            rows = await s.all(
                "SELECT seq, body FROM outbox WHERE sent = 0"  # noqa: S608 (constants only)
                + s.dialect.pick(sqlite="", postgres=CLAIMABLE)
                + " ORDER BY seq LIMIT ?"
                + s.dialect.pick(sqlite="", postgres=" FOR UPDATE SKIP LOCKED"),
                s.dialect.pick(sqlite=(limit,), postgres=(claimer, at, limit)),
            )
            if rows:
                marks = ", ".join("?" * len(rows))
                await s.execute(
                    f"UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE seq IN ({marks})",  # noqa: S608
                    (claimer, (now + lease).timestamp(), *(row[0] for row in rows)),
                )
        return [Envelope.from_bytes(row[1].encode()) for row in rows]

    async def release(self, claimer: str) -> None:
        """Gives back `claimer`'s unsent rows (a publish failed), so any replica may take them now."""
        async with self.db.transaction() as s:
            await s.execute(
                "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? AND sent = 0",
                (claimer,),
            )

    async def mark_sent(self, envelope_id: str) -> None:
        async with self.db.transaction() as s:
            await s.execute("UPDATE outbox SET sent = 1 WHERE id = ?", (envelope_id,))


async def _write_record(s: Session, record: IncidentRecord, now: str) -> None:
    body = record.model_dump_json()
    if record.version == 0:
        written = await s.execute(
            kit.Dialect.insert_ignore("incidents", ("incident_id", "body", "updated_at", "version")),
            (record.incident_id, body, now, 1),
        )
    else:
        written = await s.execute(
            "UPDATE incidents SET body = ?, updated_at = ?, version = version + 1 "
            "WHERE incident_id = ? AND version = ?",
            (body, now, record.incident_id, record.version),
        )
    if written != 1:
        raise Conflict(f"incident {record.incident_id} changed since version {record.version}")


def _record(body: str, version: int) -> IncidentRecord:
    record = IncidentRecord.model_validate_json(body)
    record.version = int(version)
    return record
