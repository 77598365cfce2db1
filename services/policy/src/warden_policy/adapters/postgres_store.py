"""PostgreSQL implementation of the state store, for several policy replicas at once.

Every unit of work is one READ COMMITTED transaction. Safety between replicas comes from the
writes themselves: approvals change only where the version still matches (compare-and-set), a
message id or token id is taken by a unique insert, a target slot by a conditional upsert. The
loser of any race gets Conflict or AlreadyProcessed, writes nothing, and re-decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
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
  summary TEXT NOT NULL, evidence TEXT NOT NULL, state TEXT NOT NULL, requested_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL, decided_by TEXT, reason TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL,
  resource_group TEXT NOT NULL DEFAULT '', incident_class TEXT NOT NULL DEFAULT '', scheduled_task TEXT,
  proposal_chain TEXT NOT NULL DEFAULT '[]', approvals_required INTEGER NOT NULL DEFAULT 1,
  approved_by TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS approvals_due ON approvals (state, expires_at);
CREATE INDEX IF NOT EXISTS approvals_incident ON approvals (incident_id, state);
CREATE TABLE IF NOT EXISTS processed (message_id TEXT PRIMARY KEY, processed_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS used_tokens (jti TEXT PRIMARY KEY, expires_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS controls (
  kind TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL, changed_by TEXT NOT NULL,
  changed_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (kind, scope));
CREATE TABLE IF NOT EXISTS in_flight (
  target TEXT PRIMARY KEY, action_id TEXT NOT NULL, incident_id TEXT NOT NULL, lease_until TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS released (
  action_id TEXT PRIMARY KEY, target TEXT NOT NULL, incident_id TEXT NOT NULL, released_at TIMESTAMPTZ NOT NULL);
CREATE INDEX IF NOT EXISTS released_target ON released (target, released_at);
CREATE INDEX IF NOT EXISTS released_incident ON released (incident_id);
CREATE TABLE IF NOT EXISTS outbox (
  seq BIGSERIAL PRIMARY KEY, envelope_id TEXT NOT NULL UNIQUE, cause_id TEXT,
  body TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, published_at TIMESTAMPTZ);
CREATE INDEX IF NOT EXISTS outbox_cause ON outbox (cause_id);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (published_at, seq);
"""

# Built from the constant column list only; every value goes through a placeholder.
SELECT_APPROVALS = f"SELECT {COLUMNS} FROM approvals "  # noqa: S608
PLACEHOLDERS = ", ".join(["%s"] * len(COLUMNS.split(",")))
INSERT_APPROVAL = f"INSERT INTO approvals ({COLUMNS}) VALUES ({PLACEHOLDERS})"  # noqa: S608


def _same(value: datetime) -> datetime:
    return value


class PostgresStateStore:
    def __init__(self, url: str, *, schema: str = "public", pool_size: int = 4) -> None:
        self._url = url
        self._schema = schema
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool | None = None

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("state store is not open")
        return self._pool

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
        await conn.commit()

    async def open(self) -> None:
        pool = AsyncConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            configure=self._configure,
            open=False,
            kwargs={"row_factory": dict_row},
        )
        await pool.open(wait=True)
        self._pool = pool
        async with pool.connection() as conn:
            # Replicas starting together must not race each other's CREATE SCHEMA / TABLE.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('warden-policy-schema'))")
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema)))
            for statement in filter(str.strip, SCHEMA.split(";")):
                await conn.execute(statement)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _rows(self, query: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query, params)
            return cast(list[dict[str, Any]], await cursor.fetchall())

    async def outbox_of(self, message_id: str) -> list[Envelope] | None:
        if not await self._rows("SELECT 1 FROM processed WHERE message_id = %s", (message_id,)):
            return None
        rows = await self._rows("SELECT body FROM outbox WHERE cause_id = %s ORDER BY seq", (message_id,))
        return [Envelope.from_bytes(r["body"].encode()) for r in rows]

    async def get_approval(self, approval_id: str) -> Approval | None:
        rows = await self._rows(SELECT_APPROVALS + "WHERE approval_id = %s", (approval_id,))
        return approval_from_row(rows[0]) if rows else None

    async def pending_for_incident(self, incident_id: str) -> list[Approval]:
        rows = await self._rows(
            SELECT_APPROVALS + "WHERE incident_id = %s AND state = %s ORDER BY requested_at",
            (incident_id, ApprovalState.PENDING.value),
        )
        return [approval_from_row(r) for r in rows]

    async def due_approvals(self, now: datetime, limit: int = 100) -> list[Approval]:
        rows = await self._rows(
            SELECT_APPROVALS + "WHERE state = %s AND expires_at <= %s ORDER BY expires_at LIMIT %s",
            (ApprovalState.PENDING.value, now, limit),
        )
        return [approval_from_row(r) for r in rows]

    async def live_slot(self, target: str, now: datetime) -> Slot | None:
        rows = await self._rows("SELECT * FROM in_flight WHERE target = %s AND lease_until > %s", (target, now))
        if not rows:
            return None
        r = rows[0]
        return Slot(r["target"], r["action_id"], r["incident_id"], r["lease_until"])

    async def token_used(self, jti: str) -> bool:
        return bool(await self._rows("SELECT 1 FROM used_tokens WHERE jti = %s", (jti,)))

    async def controls(self) -> dict[tuple[str, str], str]:
        rows = await self._rows("SELECT kind, scope, value FROM controls")
        return {(r["kind"], r["scope"]): r["value"] for r in rows}

    async def released_counts(self, target: str, incident_id: str, since: datetime) -> Counts:
        rows = await self._rows(
            "SELECT COUNT(*) FILTER (WHERE target = %s AND released_at >= %s) AS on_target, "
            "COUNT(*) FILTER (WHERE incident_id = %s) AS for_incident, "
            "COUNT(*) FILTER (WHERE released_at >= %s) AS last_hour FROM released",
            (target, since, incident_id, since),
        )
        r = rows[0]
        return Counts(int(r["on_target"]), int(r["for_incident"]), int(r["last_hour"]))

    async def apply(self, changes: Changes, now: datetime) -> None:
        async with self.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await self._write(conn, changes, now)
            except psycopg.errors.SerializationFailure as err:
                raise Conflict(f"concurrent transaction: {err}") from None

    async def _write(self, conn: psycopg.AsyncConnection[Any], c: Changes, now: datetime) -> None:
        if c.message_id is not None:
            cur = await conn.execute(
                "INSERT INTO processed (message_id, processed_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (c.message_id, now),
            )
            if cur.rowcount != 1:
                raise AlreadyProcessed(c.message_id)
        for a in c.new_approvals:
            cur = await conn.execute(INSERT_APPROVAL + " ON CONFLICT DO NOTHING", approval_values(a, _same))
            if cur.rowcount != 1:
                raise Conflict(f"approval {a.approval_id} already exists")
        for a in c.updated_approvals:
            cur = await conn.execute(
                "UPDATE approvals SET state = %s, decided_by = %s, reason = %s, approved_by = %s, "
                "version = version + 1 WHERE approval_id = %s AND version = %s",
                (a.state.value, a.decided_by, a.reason, approved_by_json(a), a.approval_id, a.version),
            )
            if cur.rowcount != 1:
                raise Conflict(f"approval {a.approval_id} changed since version {a.version}")
        for target, action_id in c.release:
            await conn.execute("DELETE FROM in_flight WHERE target = %s AND action_id = %s", (target, action_id))
        for s in c.acquire:
            cur = await conn.execute(
                "INSERT INTO in_flight (target, action_id, incident_id, lease_until) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (target) DO UPDATE SET action_id = excluded.action_id, "
                "incident_id = excluded.incident_id, lease_until = excluded.lease_until "
                "WHERE in_flight.lease_until <= %s OR in_flight.action_id = excluded.action_id",
                (s.target, s.action_id, s.incident_id, s.lease_until, now),
            )
            if cur.rowcount != 1:
                raise Conflict(f"target {s.target} was taken meanwhile")
        for r in c.released:
            await conn.execute(
                "INSERT INTO released (action_id, target, incident_id, released_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (r.action_id, r.target, r.incident_id, r.released_at),
            )
        for jti, expires_at in c.used_tokens:
            cur = await conn.execute(
                "INSERT INTO used_tokens (jti, expires_at) VALUES (%s, %s) ON CONFLICT DO NOTHING", (jti, expires_at)
            )
            if cur.rowcount != 1:
                raise Conflict(f"token {jti} was used meanwhile")
        for ctl in c.controls:
            await conn.execute(
                "INSERT INTO controls (kind, scope, value, changed_by, changed_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (kind, scope) DO UPDATE SET value = excluded.value, "
                "changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                (ctl.kind, ctl.scope, ctl.value, ctl.changed_by, now),
            )
        for e in c.outbox:
            await conn.execute(
                "INSERT INTO outbox (envelope_id, cause_id, body, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (e.id, c.message_id, e.to_bytes().decode(), now),
            )

    async def unpublished(self, created_before: datetime, limit: int = 100) -> list[Envelope]:
        rows = await self._rows(
            "SELECT body FROM outbox WHERE published_at IS NULL AND created_at <= %s ORDER BY seq LIMIT %s",
            (created_before, limit),
        )
        return [Envelope.from_bytes(r["body"].encode()) for r in rows]

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE outbox SET published_at = %s WHERE envelope_id = ANY(%s)", (now, list(envelope_ids))
            )

    async def purge(self, older_than: datetime, now: datetime) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM outbox WHERE published_at IS NOT NULL AND created_at < %s", (older_than,))
            await conn.execute("DELETE FROM processed WHERE processed_at < %s", (older_than,))
            await conn.execute("DELETE FROM released WHERE released_at < %s", (older_than,))
            await conn.execute("DELETE FROM used_tokens WHERE expires_at < %s", (now,))
