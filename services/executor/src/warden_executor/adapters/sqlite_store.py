"""The executor's durable state in SQLite: the idempotency ledger and the operator controls.

`synchronous=FULL` with WAL: a row the executor wrote before acting survives a crash, which is
what stops a redelivered action from running twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from warden_executor.domain.controls import KillSwitch
from warden_executor.domain.model import LedgerEntry, LedgerState

SCHEMA = """
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


# Columns added after the first release; older state files gain them on open.
LEDGER_ADDITIONS = {"envelope": "TEXT", "announced_at": "TEXT", "observed": "TEXT"}
_SELECT = (
    "SELECT action_id, envelope_id, incident_id, kind, target, state, outcome, detail, before, envelope, "
    "announced_at, observed FROM ledger "
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SqliteStore:
    """Owns the connection; `SqliteLedger` and `SqliteControls` are its two faces (ports)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.executescript(SCHEMA)
        async with db.execute("PRAGMA table_info(ledger)") as cur:
            present = {row[1] for row in await cur.fetchall()}
        for column, sql_type in LEDGER_ADDITIONS.items():
            if column not in present:
                await db.execute(f"ALTER TABLE ledger ADD COLUMN {column} {sql_type}")
        await db.commit()
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("executor state store is not open")
        return self._db


class SqliteLedger:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def get(self, action_id: str) -> LedgerEntry | None:
        async with self._store.db.execute(_SELECT + "WHERE action_id = ?", (action_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _entry(tuple(row))

    async def unfinished(self) -> list[LedgerEntry]:
        async with self._store.db.execute(_SELECT + "WHERE state = 'started' ORDER BY started_at") as cur:
            rows = await cur.fetchall()
        return [_entry(tuple(r)) for r in rows]

    async def _insert(self, entry: LedgerEntry) -> bool:
        finished = _now() if entry.state is LedgerState.DONE else None
        cur = await self._store.db.execute(
            "INSERT OR IGNORE INTO ledger (action_id, envelope_id, incident_id, kind, target, state, outcome, "
            "detail, started_at, finished_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.action_id,
                entry.envelope_id,
                entry.incident_id,
                entry.kind,
                entry.target,
                entry.state.value,
                entry.outcome,
                entry.detail,
                _now(),
                finished,
                entry.envelope,
            ),
        )
        await self._store.db.commit()
        return cur.rowcount == 1

    async def start(self, entry: LedgerEntry) -> bool:
        return await self._insert(entry)

    async def close_unstarted(self, entry: LedgerEntry) -> None:
        await self._insert(entry)

    async def announce(self, action_id: str, observed: dict[str, Any]) -> None:
        await self._store.db.execute(
            "UPDATE ledger SET announced_at = ?, observed = ? WHERE action_id = ?",
            (_now(), json.dumps(observed, default=str), action_id),
        )
        await self._store.db.commit()

    async def record_before(self, action_id: str, before: dict[str, Any]) -> None:
        await self._store.db.execute(
            "UPDATE ledger SET before = ? WHERE action_id = ?", (json.dumps(before, default=str), action_id)
        )
        await self._store.db.commit()

    async def finish(self, action_id: str, outcome: str, detail: str) -> None:
        await self._store.db.execute(
            "UPDATE ledger SET state = 'done', outcome = ?, detail = ?, finished_at = ? WHERE action_id = ?",
            (outcome, detail, _now(), action_id),
        )
        await self._store.db.commit()

    async def abandon(self, action_id: str) -> None:
        await self._store.db.execute("DELETE FROM ledger WHERE action_id = ? AND state = 'started'", (action_id,))
        await self._store.db.commit()


def _json(text: str | None) -> dict[str, Any] | None:
    value = json.loads(text) if text else None
    return value if isinstance(value, dict) else None


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return LedgerEntry(
        action_id=row[0],
        envelope_id=row[1],
        incident_id=row[2],
        kind=row[3],
        target=row[4],
        state=LedgerState(row[5]),
        outcome=row[6],
        detail=row[7],
        before=_json(row[8]),
        envelope=row[9],
        announced=row[10] is not None,
        observed=_json(row[11]),
    )


class SqliteDrainJournal:
    """Which drains were open: one left open at start-up means the last process died mid-drain."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def opened(self, drain_id: str, reason: str) -> None:
        await self._store.db.execute(
            "INSERT OR REPLACE INTO drain_journal (drain_id, reason, opened_at) VALUES (?, ?, ?)",
            (drain_id, reason, _now()),
        )
        await self._store.db.commit()

    async def closed(self, drain_id: str) -> None:
        await self._store.db.execute("DELETE FROM drain_journal WHERE drain_id = ?", (drain_id,))
        await self._store.db.commit()

    async def left_open(self) -> list[str]:
        async with self._store.db.execute("SELECT drain_id FROM drain_journal ORDER BY opened_at") as cur:
            return [row[0] for row in await cur.fetchall()]


class SqliteControls:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def kill_switches(self) -> list[KillSwitch]:
        async with self._store.db.execute(
            "SELECT scope, engaged, changed_at, changed_by, reason FROM kill_switch ORDER BY scope"
        ) as cur:
            rows = await cur.fetchall()
        return [
            KillSwitch(
                scope=r[0], engaged=bool(r[1]), changed_at=datetime.fromisoformat(r[2]), changed_by=r[3], reason=r[4]
            )
            for r in rows
        ]

    async def save_kill_switch(self, switch: KillSwitch) -> bool:
        # Only a newer change wins, so a redelivered old message cannot undo a newer one.
        cur = await self._store.db.execute(
            "INSERT INTO kill_switch (scope, engaged, changed_at, changed_by, reason) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(scope) DO UPDATE SET engaged = excluded.engaged, changed_at = excluded.changed_at, "
            "changed_by = excluded.changed_by, reason = excluded.reason "
            "WHERE excluded.changed_at > kill_switch.changed_at",
            (
                switch.scope,
                int(switch.engaged),
                switch.changed_at.astimezone(UTC).isoformat(timespec="microseconds"),
                switch.changed_by,
                switch.reason,
            ),
        )
        await self._store.db.commit()
        return cur.rowcount == 1
