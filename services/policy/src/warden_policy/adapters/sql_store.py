"""The policy state store in SQL, one body for SQLite (embedded) and PostgreSQL (several replicas).

Every unit of work (`apply`) is one transaction: BEGIN IMMEDIATE on SQLite, READ COMMITTED on
PostgreSQL. Safety between replicas comes from the writes themselves: approvals change only where
the version still matches (compare-and-set), a message id or token id is taken by a unique insert,
a target slot by a conditional upsert. The loser of any race gets Conflict or AlreadyProcessed,
writes nothing, and re-decides. Reads run outside write transactions (`Database.read`).

The outbox is the persistence kit's (`warden_persistence.outbox`), staged in `apply`'s
transaction. The dialects differ in timestamps only: fixed-width UTC text on SQLite, so string
comparison orders like time; TIMESTAMPTZ on PostgreSQL. The relay's flush claims rows for a lease
(`claim_unpublished`), so two replicas on one schema publish each row once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import warden_persistence
from warden_contracts.envelope import Envelope
from warden_persistence import Database, Dialect, Migration, Row, Session, add_missing_columns, open_database
from warden_persistence.outbox import Outbox, outbox_claims, outbox_schema

from warden_policy.adapters.approval_rows import COLUMNS, approval_from_row, approval_values, approved_by_json
from warden_policy.domain.approvals import Approval, ApprovalState
from warden_policy.domain.rules import Counts
from warden_policy.ports import AlreadyProcessed, Changes, Conflict, Covered, Slot

SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
  approval_id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, correlationid TEXT NOT NULL,
  request_message_id TEXT NOT NULL, action TEXT NOT NULL, action_hash TEXT NOT NULL,
  tier INTEGER NOT NULL, environment TEXT NOT NULL, run_mode TEXT NOT NULL, requested_by TEXT NOT NULL,
  summary TEXT NOT NULL, evidence TEXT NOT NULL, state TEXT NOT NULL, requested_at {time} NOT NULL,
  expires_at {time} NOT NULL, decided_by TEXT, reason TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL,
  resource_group TEXT NOT NULL DEFAULT '', incident_class TEXT NOT NULL DEFAULT '', scheduled_task TEXT,
  proposal_chain TEXT NOT NULL DEFAULT '[]', approvals_required INTEGER NOT NULL DEFAULT 1,
  approved_by TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS approvals_due ON approvals (state, expires_at);
CREATE INDEX IF NOT EXISTS approvals_incident ON approvals (incident_id, state);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, processed_at {time} NOT NULL);
CREATE TABLE IF NOT EXISTS used_tokens (jti TEXT PRIMARY KEY, expires_at {time} NOT NULL);
CREATE TABLE IF NOT EXISTS controls (
  kind TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL, changed_by TEXT NOT NULL,
  changed_at {time} NOT NULL, PRIMARY KEY (kind, scope));
CREATE TABLE IF NOT EXISTS in_flight (
  target TEXT PRIMARY KEY, action_id TEXT NOT NULL, incident_id TEXT NOT NULL, lease_until {time} NOT NULL);
CREATE TABLE IF NOT EXISTS released (
  action_id TEXT PRIMARY KEY, target TEXT NOT NULL, incident_id TEXT NOT NULL, released_at {time} NOT NULL);
CREATE INDEX IF NOT EXISTS released_target ON released (target, released_at);
CREATE INDEX IF NOT EXISTS released_incident ON released (incident_id)
"""


async def _create(session: Session) -> None:
    # IF NOT EXISTS throughout: policy.db files and PostgreSQL schemas made before the migrations
    # were numbered (version 0) already hold these tables.
    time = session.dialect.pick(sqlite="TEXT", postgres="TIMESTAMPTZ")
    await session.script(SCHEMA.format(time=time))
    await session.script(outbox_schema(session.dialect, time))


async def _columns_older_data_dirs_lack(session: Session) -> None:
    # Data dirs written before M-of-N and scoped guards lack these; on a newer database a no-op.
    await add_missing_columns(
        session,
        "approvals",
        {
            "resource_group": "TEXT NOT NULL DEFAULT ''",
            "incident_class": "TEXT NOT NULL DEFAULT ''",
            "scheduled_task": "TEXT",
            "proposal_chain": "TEXT NOT NULL DEFAULT '[]'",
            "approvals_required": "INTEGER NOT NULL DEFAULT 1",
            "approved_by": "TEXT NOT NULL DEFAULT '[]'",
        },
    )


async def _covers(session: Session) -> None:
    # Identical proposals from other incidents wait on the released action that covers them.
    await add_missing_columns(session, "in_flight", {"action_hash": "TEXT NOT NULL DEFAULT ''"})
    await session.script(
        "CREATE TABLE IF NOT EXISTS covered (action_id TEXT NOT NULL, incident_id TEXT NOT NULL, "
        "handoff TEXT NOT NULL, PRIMARY KEY (action_id, incident_id))"
    )


async def _released_by_time(session: Session) -> None:
    # For the last hour's releases in RELEASED_COUNTS.
    await session.script("CREATE INDEX IF NOT EXISTS released_time ON released (released_at)")


MIGRATIONS = (
    Migration(1, _create),
    Migration(2, _columns_older_data_dirs_lack),
    # Replicas claim outbox rows before publishing them (issue 18).
    Migration(3, outbox_claims),
    Migration(4, _covers),
    Migration(5, _released_by_time),
)

# One subquery per count, so each is answered from its index (target, incident, time) however
# many days of releases the table retains; every decision asks.
RELEASED_COUNTS = (
    "SELECT (SELECT COUNT(*) FROM released WHERE target = ? AND released_at >= ?), "
    "(SELECT COUNT(*) FROM released WHERE incident_id = ?), "
    "(SELECT COUNT(*) FROM released WHERE released_at >= ?)"
)

APPROVAL_COLUMNS = tuple(c.strip() for c in COLUMNS.split(","))
# Built from the constant column list only; every value goes through a placeholder.
SELECT_APPROVALS = f"SELECT {COLUMNS} FROM approvals "  # noqa: S608
INSERT_APPROVAL = Dialect.insert_ignore("approvals", APPROVAL_COLUMNS)
SLOT_COLUMNS = ("target", "action_id", "incident_id", "lease_until", "action_hash")
OUTBOX = Outbox()
# The statements of `_write`, built once rather than on every unit of work.
INSERT_PROCESSED = Dialect.insert_ignore("processed", ("message_id", "processed_at"))
INSERT_RELEASED = Dialect.insert_ignore("released", ("action_id", "target", "incident_id", "released_at"))
INSERT_COVERED = Dialect.insert_ignore("covered", ("action_id", "incident_id", "handoff"))
INSERT_USED_TOKEN = Dialect.insert_ignore("used_tokens", ("jti", "expires_at"))
UPSERT_CONTROL = Dialect.upsert("controls", ("kind", "scope", "value", "changed_by", "changed_at"), ("kind", "scope"))


def ts(value: datetime) -> str:
    """Fixed-width UTC text, so SQL string comparison orders like time (as strftime's
    "%Y-%m-%dT%H:%M:%S.%f+00:00", at a third of its cost: a decision writes a dozen). A time
    already in UTC (the clock's) is written as it is: astimezone would return it unchanged."""
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _same(value: datetime) -> datetime:
    return value


def _time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _approval(row: Row) -> Approval:
    return approval_from_row(dict(zip(APPROVAL_COLUMNS, row, strict=True)))


def _envelopes(bodies: list[str]) -> list[Envelope]:
    return [Envelope.from_bytes(body.encode()) for body in bodies]


class SqlStateStore:
    """Open with `await store.open()`, close with `close()`. `url` None: SQLite at `sqlite_path`;
    `postgresql://user@host/db?schema=name`: PostgreSQL (`default_schema` when it names none)."""

    def __init__(
        self, url: str | None, sqlite_path: Path | None = None, *, default_schema: str = "public", pool_size: int = 4
    ) -> None:
        self._store_url = url
        self._sqlite_path = sqlite_path
        self._default_schema = default_schema
        self._pool_size = pool_size
        self._database: Database | None = None
        # Sent outbox messages not marked in the table yet (ids, when sent): the next transaction
        # this store opens marks them (see `mark_published`).
        self._sent: list[tuple[list[str], datetime]] = []

    @property
    def db(self) -> Database:
        if self._database is None:
            raise RuntimeError("state store is not open")
        return self._database

    async def open(self) -> None:
        self._database = await open_database(
            self._store_url,
            self._sqlite_path,
            MIGRATIONS,
            default_schema=self._default_schema,
            pool_size=self._pool_size,
        )

    async def close(self) -> None:
        if self._database is not None:
            await self._mark_sent()
            await self._database.close()
            self._database = None

    def _at(self, value: datetime) -> object:
        """A timestamp as this backend stores and compares it."""
        return self.db.dialect.pick(sqlite=ts, postgres=_same)(value)

    @asynccontextmanager
    async def _transaction(self, *, durable: bool = True, commit_on_loop: bool = False) -> AsyncIterator[Session]:
        """A write transaction that first marks the messages sent since the last one; they stay
        to be marked by the next one if it rolls back."""
        marks = list(self._sent)
        async with self.db.transaction(durable=durable, commit_on_loop=commit_on_loop) as s:
            for ids, sent_at in marks:
                await OUTBOX.mark_published(s, ids, self._at(sent_at))
            yield s
        if marks:
            # By identity: a concurrent transaction (PostgreSQL's pool) may have marked some too.
            self._sent = [m for m in self._sent if not any(m is done for done in marks)]

    async def _mark_sent(self) -> None:
        if self._sent:
            async with self._transaction(durable=False):
                pass

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self.db.read() as r:
            return await r.all(sql, params)

    async def outbox_of(self, message_id: str) -> list[Envelope] | None:
        async with self.db.read() as r:
            if await r.one("SELECT 1 FROM processed WHERE message_id = ?", (message_id,)) is None:
                return None
            return _envelopes(await OUTBOX.of_cause(r, message_id))

    async def get_approval(self, approval_id: str) -> Approval | None:
        rows = await self._rows(SELECT_APPROVALS + "WHERE approval_id = ?", (approval_id,))
        return _approval(rows[0]) if rows else None

    async def pending_for_incident(self, incident_id: str) -> list[Approval]:
        rows = await self._rows(
            SELECT_APPROVALS + "WHERE incident_id = ? AND state = ? ORDER BY requested_at",
            (incident_id, ApprovalState.PENDING.value),
        )
        return [_approval(r) for r in rows]

    async def due_approvals(self, now: datetime, limit: int = 100) -> list[Approval]:
        rows = await self._rows(
            SELECT_APPROVALS + "WHERE state = ? AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            (ApprovalState.PENDING.value, self._at(now), limit),
        )
        return [_approval(r) for r in rows]

    async def live_slot(self, target: str, now: datetime) -> Slot | None:
        rows = await self._rows(
            f"SELECT {', '.join(SLOT_COLUMNS)} FROM in_flight WHERE target = ? AND lease_until > ?",  # noqa: S608
            (target, self._at(now)),
        )
        if not rows:
            return None
        r = rows[0]
        return Slot(r[0], r[1], r[2], _time(r[3]), r[4])

    async def covered_by(self, action_id: str) -> list[Covered]:
        rows = await self._rows(
            "SELECT action_id, incident_id, handoff FROM covered WHERE action_id = ? ORDER BY incident_id", (action_id,)
        )
        return [Covered(r[0], r[1], Envelope.from_bytes(r[2].encode())) for r in rows]

    async def token_used(self, jti: str) -> bool:
        return bool(await self._rows("SELECT 1 FROM used_tokens WHERE jti = ?", (jti,)))

    async def controls(self) -> dict[tuple[str, str], str]:
        rows = await self._rows("SELECT kind, scope, value FROM controls")
        return {(r[0], r[1]): r[2] for r in rows}

    async def released_counts(self, target: str, incident_id: str, since: datetime) -> Counts:
        at = self._at(since)
        rows = await self._rows(RELEASED_COUNTS, (target, at, incident_id, at))
        r = rows[0]
        return Counts(int(r[0]), int(r[1]), int(r[2]))

    async def apply(self, changes: Changes, now: datetime) -> None:
        try:
            # Nothing is published until this is on disk: the fsync on the loop (same FULL sync)
            # saves a worker thread's two wake-ups on the path to the decision.
            async with self._transaction(commit_on_loop=True) as s:
                await self._write(s, changes, now)
        except warden_persistence.Conflict as err:
            # Deadlock or serialization failure between replicas: re-decide, like a lost CAS.
            raise Conflict(f"concurrent transaction: {err}") from None

    async def _write(self, s: Session, c: Changes, now: datetime) -> None:
        at = self._at
        at_now = at(now)  # written as processed_at, created_at and the lease check
        if c.message_id is not None:
            taken = await s.execute(INSERT_PROCESSED, (c.message_id, at_now))
            if taken != 1:
                raise AlreadyProcessed(c.message_id)
        for a in c.new_approvals:
            if await s.execute(INSERT_APPROVAL, approval_values(a, at)) != 1:
                raise Conflict(f"approval {a.approval_id} already exists")
        for a in c.updated_approvals:
            changed = await s.execute(
                "UPDATE approvals SET state = ?, decided_by = ?, reason = ?, approved_by = ?, version = version + 1 "
                "WHERE approval_id = ? AND version = ?",
                (a.state.value, a.decided_by, a.reason, approved_by_json(a), a.approval_id, a.version),
            )
            if changed != 1:
                raise Conflict(f"approval {a.approval_id} changed since version {a.version}")
        for target, action_id in c.release:
            await s.execute("DELETE FROM in_flight WHERE target = ? AND action_id = ?", (target, action_id))
        for slot in c.acquire:
            taken = await s.execute(
                "INSERT INTO in_flight (target, action_id, incident_id, lease_until, action_hash) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (target) DO UPDATE SET action_id = excluded.action_id, "
                "incident_id = excluded.incident_id, lease_until = excluded.lease_until, "
                "action_hash = excluded.action_hash "
                "WHERE in_flight.lease_until <= ? OR in_flight.action_id = excluded.action_id",
                (slot.target, slot.action_id, slot.incident_id, at(slot.lease_until), slot.action_hash, at_now),
            )
            if taken != 1:
                raise Conflict(f"target {slot.target} was taken meanwhile")
        for r in c.released:
            await s.execute(INSERT_RELEASED, (r.action_id, r.target, r.incident_id, at(r.released_at)))
        for cover in c.covered:
            await s.execute(INSERT_COVERED, (cover.action_id, cover.incident_id, cover.handoff.to_bytes().decode()))
        for action_id in c.uncover:
            await s.execute("DELETE FROM covered WHERE action_id = ?", (action_id,))
        for jti, expires_at in c.used_tokens:
            if await s.execute(INSERT_USED_TOKEN, (jti, at(expires_at))) != 1:
                raise Conflict(f"token {jti} was used meanwhile")
        for ctl in c.controls:
            await s.execute(UPSERT_CONTROL, (ctl.kind, ctl.scope, ctl.value, ctl.changed_by, at_now))
        # Kept: the relay publishes these very envelopes after the commit, as the bytes stored here,
        # without writing their JSON a second time on the way from the COMMIT to the bus.
        await OUTBOX.stage(s, c.message_id, [(e.id, e.keep_bytes().decode()) for e in c.outbox], at_now)

    async def unpublished(self, created_before: datetime, limit: int = 100) -> list[Envelope]:
        await self._mark_sent()
        async with self.db.read() as r:
            return _envelopes(await OUTBOX.unpublished(r, self._at(created_before), limit))

    async def claim_unpublished(
        self, claimer: str, created_before: datetime, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[Envelope]:
        async with self._transaction() as s:
            bodies = await OUTBOX.claim(
                s, claimer, self._at(created_before), now.timestamp(), (now + lease).timestamp(), limit
            )
        return _envelopes(bodies)

    async def release(self, claimer: str) -> None:
        async with self._transaction() as s:
            await OUTBOX.release(s, claimer)

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None:
        if not envelope_ids:
            return
        # Marked by the next transaction this store opens (the next decision's, the flush's claim
        # at the latest, close), not by one of their own: that one's BEGIN, UPDATE and COMMIT
        # stood between a decision's acknowledgements and the handler's return, so the next
        # message's fetch waited for it. A mark lost to a crash before then only republishes the
        # same ids, which the broker and every consumer drop (as a mark an OS crash undid before).
        self._sent.append((list(envelope_ids), now))

    async def purge(self, older_than: datetime, now: datetime) -> None:
        cutoff = self._at(older_than)
        async with self._transaction() as s:
            await OUTBOX.purge(s, cutoff)
            await s.execute("DELETE FROM processed WHERE processed_at < ?", (cutoff,))
            await s.execute("DELETE FROM released WHERE released_at < ?", (cutoff,))
            await s.execute("DELETE FROM used_tokens WHERE expires_at < ?", (self._at(now),))
