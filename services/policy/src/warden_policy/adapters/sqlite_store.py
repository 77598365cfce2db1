"""SQLite (WAL) implementation of the state store: the embedded mode's single replica."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
from warden_contracts.envelope import Envelope

from warden_policy.adapters.approval_rows import COLUMNS, approval_from_row, approval_values, approved_by_json
from warden_policy.domain.approvals import Approval, ApprovalState
from warden_policy.domain.rules import Counts
from warden_policy.ports import AlreadyProcessed, Changes, Conflict, Slot

SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
  approval_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, correlationid TEXT NOT NULL,
  request_message_id TEXT NOT NULL, action TEXT NOT NULL, action_hash TEXT NOT NULL,
  tier INTEGER NOT NULL, environment TEXT NOT NULL, run_mode TEXT NOT NULL, requested_by TEXT NOT NULL,
  summary TEXT NOT NULL, evidence TEXT NOT NULL, state TEXT NOT NULL, requested_at TEXT NOT NULL,
  expires_at TEXT NOT NULL, decided_by TEXT, reason TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL,
  resource_group TEXT NOT NULL DEFAULT '', incident_class TEXT NOT NULL DEFAULT '', scheduled_task TEXT,
  proposal_chain TEXT NOT NULL DEFAULT '[]', approvals_required INTEGER NOT NULL DEFAULT 1,
  approved_by TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS approvals_due ON approvals (state, expires_at);
CREATE INDEX IF NOT EXISTS approvals_incident ON approvals (incident_id, state);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, processed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS used_tokens (jti TEXT PRIMARY KEY, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS controls (
  kind TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL, changed_by TEXT NOT NULL,
  changed_at TEXT NOT NULL, PRIMARY KEY (kind, scope));
CREATE TABLE IF NOT EXISTS in_flight (
  target TEXT PRIMARY KEY, action_id TEXT NOT NULL, incident_id TEXT NOT NULL, lease_until TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS released (
  action_id TEXT PRIMARY KEY, target TEXT NOT NULL, incident_id TEXT NOT NULL, released_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS released_target ON released (target, released_at);
CREATE INDEX IF NOT EXISTS released_incident ON released (incident_id);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, envelope_id TEXT NOT NULL UNIQUE, cause_id TEXT,
  body TEXT NOT NULL, created_at TEXT NOT NULL, published_at TEXT);
CREATE INDEX IF NOT EXISTS outbox_cause ON outbox (cause_id);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (published_at, seq);
"""

ADDED_APPROVAL_COLUMNS = {
    "resource_group": "TEXT NOT NULL DEFAULT ''",
    "incident_class": "TEXT NOT NULL DEFAULT ''",
    "scheduled_task": "TEXT",
    "proposal_chain": "TEXT NOT NULL DEFAULT '[]'",
    "approvals_required": "INTEGER NOT NULL DEFAULT 1",
    "approved_by": "TEXT NOT NULL DEFAULT '[]'",
}

# Built from the constant column list only; every value goes through a placeholder.
SELECT_APPROVALS = f"SELECT {COLUMNS} FROM approvals "  # noqa: S608
PLACEHOLDERS = ", ".join("?" * len(COLUMNS.split(",")))
INSERT_APPROVAL = f"INSERT INTO approvals ({COLUMNS}) VALUES ({PLACEHOLDERS})"  # noqa: S608


def ts(value: datetime) -> str:
    """Fixed-width UTC text, so SQL string comparison orders like time."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class SqliteStateStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        # One connection: statements of concurrent handlers must not interleave inside a transaction.
        self._lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("state store is not open")
        return self._db

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self._path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000", "foreign_keys=ON"):
            await self._db.execute(f"PRAGMA {pragma}")
        await self._db.executescript(SCHEMA)
        await self._add_missing_columns()

    async def _add_missing_columns(self) -> None:
        """Data dirs written before M-of-N and scoped guards lack these columns: add them in place."""
        async with self.db.execute("PRAGMA table_info(approvals)") as cursor:
            present = {row["name"] for row in await cursor.fetchall()}
        for column, ddl in ADDED_APPROVAL_COLUMNS.items():
            if column not in present:
                await self.db.execute(f"ALTER TABLE approvals ADD COLUMN {column} {ddl}")

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        async with self._lock, self.db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def outbox_of(self, message_id: str) -> list[Envelope] | None:
        if not await self._rows("SELECT 1 FROM processed WHERE message_id = ?", (message_id,)):
            return None
        rows = await self._rows("SELECT body FROM outbox WHERE cause_id = ? ORDER BY seq", (message_id,))
        return [Envelope.from_bytes(r["body"].encode()) for r in rows]

    async def get_approval(self, approval_id: str) -> Approval | None:
        rows = await self._rows(SELECT_APPROVALS + "WHERE approval_id = ?", (approval_id,))
        return approval_from_row(rows[0]) if rows else None

    async def pending_for_incident(self, incident_id: str) -> list[Approval]:
        rows = await self._rows(
            SELECT_APPROVALS + "WHERE incident_id = ? AND state = ? ORDER BY requested_at",
            (incident_id, ApprovalState.PENDING.value),
        )
        return [approval_from_row(r) for r in rows]

    async def due_approvals(self, now: datetime, limit: int = 100) -> list[Approval]:
        rows = await self._rows(
            SELECT_APPROVALS + "WHERE state = ? AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            (ApprovalState.PENDING.value, ts(now), limit),
        )
        return [approval_from_row(r) for r in rows]

    async def live_slot(self, target: str, now: datetime) -> Slot | None:
        rows = await self._rows("SELECT * FROM in_flight WHERE target = ? AND lease_until > ?", (target, ts(now)))
        if not rows:
            return None
        r = rows[0]
        return Slot(r["target"], r["action_id"], r["incident_id"], datetime.fromisoformat(r["lease_until"]))

    async def token_used(self, jti: str) -> bool:
        return bool(await self._rows("SELECT 1 FROM used_tokens WHERE jti = ?", (jti,)))

    async def controls(self) -> dict[tuple[str, str], str]:
        rows = await self._rows("SELECT kind, scope, value FROM controls")
        return {(r["kind"], r["scope"]): r["value"] for r in rows}

    async def released_counts(self, target: str, incident_id: str, since: datetime) -> Counts:
        rows = await self._rows(
            "SELECT COALESCE(SUM(target = ? AND released_at >= ?), 0) AS on_target, "
            "COALESCE(SUM(incident_id = ?), 0) AS for_incident, COALESCE(SUM(released_at >= ?), 0) AS last_hour "
            "FROM released",
            (target, ts(since), incident_id, ts(since)),
        )
        r = rows[0]
        return Counts(int(r["on_target"]), int(r["for_incident"]), int(r["last_hour"]))

    async def apply(self, changes: Changes, now: datetime) -> None:
        async with self._lock:
            db = self.db
            await db.execute("BEGIN IMMEDIATE")
            try:
                await self._write(db, changes, now)
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def _write(self, db: aiosqlite.Connection, c: Changes, now: datetime) -> None:
        if c.message_id is not None:
            try:
                await db.execute(
                    "INSERT INTO processed (message_id, processed_at) VALUES (?, ?)", (c.message_id, ts(now))
                )
            except sqlite3.IntegrityError:
                raise AlreadyProcessed(c.message_id) from None
        for a in c.new_approvals:
            try:
                await db.execute(INSERT_APPROVAL, approval_values(a, ts))
            except sqlite3.IntegrityError:
                raise Conflict(f"approval {a.approval_id} already exists") from None
        for a in c.updated_approvals:
            cursor = await db.execute(
                "UPDATE approvals SET state = ?, decided_by = ?, reason = ?, approved_by = ?, version = version + 1 "
                "WHERE approval_id = ? AND version = ?",
                (a.state.value, a.decided_by, a.reason, approved_by_json(a), a.approval_id, a.version),
            )
            if cursor.rowcount != 1:
                raise Conflict(f"approval {a.approval_id} changed since version {a.version}")
        for target, action_id in c.release:
            await db.execute("DELETE FROM in_flight WHERE target = ? AND action_id = ?", (target, action_id))
        for s in c.acquire:
            cursor = await db.execute(
                "INSERT INTO in_flight (target, action_id, incident_id, lease_until) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (target) DO UPDATE SET action_id = excluded.action_id, "
                "incident_id = excluded.incident_id, lease_until = excluded.lease_until "
                "WHERE in_flight.lease_until <= ? OR in_flight.action_id = excluded.action_id",
                (s.target, s.action_id, s.incident_id, ts(s.lease_until), ts(now)),
            )
            if cursor.rowcount != 1:
                raise Conflict(f"target {s.target} was taken meanwhile")
        await db.executemany(
            "INSERT OR IGNORE INTO released (action_id, target, incident_id, released_at) VALUES (?, ?, ?, ?)",
            [(r.action_id, r.target, r.incident_id, ts(r.released_at)) for r in c.released],
        )
        for jti, expires_at in c.used_tokens:
            try:
                await db.execute("INSERT INTO used_tokens (jti, expires_at) VALUES (?, ?)", (jti, ts(expires_at)))
            except sqlite3.IntegrityError:
                raise Conflict(f"token {jti} was used meanwhile") from None
        for ctl in c.controls:
            await db.execute(
                "INSERT INTO controls (kind, scope, value, changed_by, changed_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, scope) DO UPDATE SET value = excluded.value, "
                "changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                (ctl.kind, ctl.scope, ctl.value, ctl.changed_by, ts(now)),
            )
        await db.executemany(
            "INSERT OR IGNORE INTO outbox (envelope_id, cause_id, body, created_at) VALUES (?, ?, ?, ?)",
            [(e.id, c.message_id, e.to_bytes().decode(), ts(now)) for e in c.outbox],
        )

    async def unpublished(self, created_before: datetime, limit: int = 100) -> list[Envelope]:
        rows = await self._rows(
            "SELECT body FROM outbox WHERE published_at IS NULL AND created_at <= ? ORDER BY seq LIMIT ?",
            (ts(created_before), limit),
        )
        return [Envelope.from_bytes(r["body"].encode()) for r in rows]

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None:
        if not envelope_ids:
            return
        async with self._lock:
            # One statement, one transaction (one fsync) for the whole outbox of a decision.
            marks = ", ".join("?" * len(envelope_ids))
            await self.db.execute(
                f"UPDATE outbox SET published_at = ? WHERE envelope_id IN ({marks})",  # noqa: S608 (placeholders)
                (ts(now), *envelope_ids),
            )

    async def purge(self, older_than: datetime, now: datetime) -> None:
        async with self._lock:
            await self.db.execute(
                "DELETE FROM outbox WHERE published_at IS NOT NULL AND created_at < ?", (ts(older_than),)
            )
            await self.db.execute("DELETE FROM processed WHERE processed_at < ?", (ts(older_than),))
            await self.db.execute("DELETE FROM released WHERE released_at < ?", (ts(older_than),))
            await self.db.execute("DELETE FROM used_tokens WHERE expires_at < ?", (ts(now),))
