"""The executor's durable state in SQL: the idempotency ledger, the drain journal and the operator
controls, on SQLite (embedded, `<data>/state/executor.db`) or PostgreSQL (replicas sharing a schema).

One SQL body for both; the persistence kit's dialect fills in the differences. A row written
before acting survives a crash (SQLite: WAL with synchronous=FULL; PostgreSQL: a committed
transaction), which is what stops a redelivered action from running twice.

Between replicas the ledger decides, never the process: `start` is an insert-if-absent, so of two
replicas given the same approved action one gets the row; a `started` row names its holder and a
lease the holder renews while it lives, and only the holder, or anyone once the lease lapsed, can
`claim` it (a compare-and-set UPDATE). A replica restarted under the same id takes its own rows
back at once; a replica that is gone for good leaves them to the others after one lease.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import warden_persistence as kit
from warden_persistence import Database, Migration, Session

from warden_executor.domain.controls import KillSwitch
from warden_executor.domain.model import LedgerEntry, LedgerState

DEFAULT_SCHEMA = "executor"
DEFAULT_LEASE_S = 30.0

V1_TABLES = """
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
)
"""


async def _later_columns(session: Session) -> None:
    # Columns added after the first release (an executor.db from then is at version 0), and the
    # holder of a started row with its lease (epoch seconds): who may finish it.
    real = session.dialect.pick(sqlite="REAL", postgres="DOUBLE PRECISION")
    await kit.add_missing_columns(
        session,
        "ledger",
        {"envelope": "TEXT", "announced_at": "TEXT", "observed": "TEXT", "holder": "TEXT", "lease_until": real},
    )
    await kit.add_missing_columns(session, "drain_journal", {"holder": "TEXT"})


MIGRATIONS = (
    Migration(1, V1_TABLES),
    Migration(2, _later_columns),
    Migration(3, "CREATE INDEX IF NOT EXISTS ledger_started ON ledger (state, started_at)"),
    # Drains owed until one ends with an empty queue (shared by the replicas, as the queue is).
    Migration(
        4,
        "CREATE TABLE IF NOT EXISTS drain_owed ("
        "drain_id TEXT PRIMARY KEY, reason TEXT NOT NULL, owed_at TEXT NOT NULL, holder TEXT)",
    ),
)

_COLUMNS = (
    "action_id, envelope_id, incident_id, kind, target, state, outcome, detail, before, envelope, "
    "announced_at, observed"
)
_SELECT = f"SELECT {_COLUMNS} FROM ledger "  # noqa: S608 (constant column list)
_INSERT = kit.Dialect.insert_ignore(
    "ledger",
    (
        "action_id",
        "envelope_id",
        "incident_id",
        "kind",
        "target",
        "state",
        "outcome",
        "detail",
        "started_at",
        "finished_at",
        "envelope",
        "holder",
        "lease_until",
    ),
)
# A started row this replica may act on: its own, an unheld one (older files), or a lapsed lease.
_MINE_OR_LAPSED = "(holder = ? OR holder IS NULL OR COALESCE(lease_until, 0) < ?)"


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SqlStore(kit.DatabaseOwner):
    """Owns the database; `SqlLedger`, `SqlDrainJournal` and `SqlControls` are its faces (ports).

    `url` None: SQLite at `sqlite_path`; `postgresql://user@host/db?schema=name` (default schema
    `executor`): PostgreSQL. `holder` names this replica in the rows it holds; it must be stable
    across restarts of one replica and differ between replicas.
    """

    store_name = "executor state store"

    def __init__(
        self, sqlite_path: Path, url: str | None = None, *, holder: str = "executor", lease_s: float = DEFAULT_LEASE_S
    ) -> None:
        kit.backend_of(url)  # a bad URL stops the composition root, not the first action
        self.path = sqlite_path
        self.holder = holder
        self.lease_s = lease_s
        self._url = url
        self._db: Database | None = None

    async def open(self) -> None:
        # Its own schema unless the URL names one: a schema holds one store's schema_version.
        self._db = await kit.open_database(self._url, self.path, MIGRATIONS, default_schema=DEFAULT_SCHEMA)

    def lease_until(self) -> float:
        return time.time() + self.lease_s

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        async with self.db.transaction() as s:
            return await s.execute(sql, params)

    async def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self.db.transaction() as s:
            return await s.all(sql, params)


class SqlLedger:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def get(self, action_id: str) -> LedgerEntry | None:
        rows = await self._store.all(_SELECT + "WHERE action_id = ?", (action_id,))
        return _entry(rows[0]) if rows else None

    async def unfinished(self) -> list[LedgerEntry]:
        rows = await self._store.all(
            _SELECT + f"WHERE state = 'started' AND {_MINE_OR_LAPSED} ORDER BY started_at",
            (self._store.holder, time.time()),
        )
        return [_entry(r) for r in rows]

    async def _insert(self, entry: LedgerEntry) -> bool:
        done = entry.state is LedgerState.DONE
        inserted = await self._store.execute(
            _INSERT,
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
                _now() if done else None,
                entry.envelope,
                self._store.holder,
                None if done else self._store.lease_until(),
            ),
        )
        return inserted == 1

    async def start(self, entry: LedgerEntry) -> bool:
        return await self._insert(entry)

    async def claim(self, action_id: str) -> LedgerEntry | None:
        store = self._store
        async with store.db.transaction() as s:
            taken = await s.execute(
                "UPDATE ledger SET holder = ?, lease_until = ? WHERE action_id = ? AND state = 'started' "  # noqa: S608
                f"AND {_MINE_OR_LAPSED}",  # a constant
                (store.holder, store.lease_until(), action_id, store.holder, time.time()),
            )
            row = await s.one(_SELECT + "WHERE action_id = ?", (action_id,)) if taken == 1 else None
        return _entry(row) if row else None

    async def close_unstarted(self, entry: LedgerEntry) -> None:
        await self._insert(entry)

    async def announce(self, action_id: str, observed: dict[str, Any]) -> bool:
        changed = await self._store.execute(
            "UPDATE ledger SET announced_at = ?, observed = ? WHERE action_id = ? AND state = 'started' AND holder = ?",
            (_now(), json.dumps(observed, default=str), action_id, self._store.holder),
        )
        return changed == 1

    async def record_before(self, action_id: str, before: dict[str, Any]) -> None:
        await self._store.execute(
            "UPDATE ledger SET before = ? WHERE action_id = ?", (json.dumps(before, default=str), action_id)
        )

    async def finish(self, action_id: str, outcome: str, detail: str) -> None:
        await self._store.execute(
            "UPDATE ledger SET state = 'done', outcome = ?, detail = ?, finished_at = ?, lease_until = NULL "
            "WHERE action_id = ?",
            (outcome, detail, _now(), action_id),
        )

    async def abandon(self, action_id: str) -> None:
        await self._store.execute(
            "DELETE FROM ledger WHERE action_id = ? AND state = 'started' AND holder = ?",
            (action_id, self._store.holder),
        )

    async def renew_leases(self) -> int:
        """Extends the lease of every started row this replica holds; how many it holds."""
        return await self._store.execute(
            "UPDATE ledger SET lease_until = ? WHERE state = 'started' AND holder = ?",
            (self._store.lease_until(), self._store.holder),
        )

    async def keep_leases(self) -> None:
        """Runs for the process's life: a replica that stops renewing (killed, frozen) lets the
        others claim its actions one lease later."""
        while True:
            await self.renew_leases()
            await asyncio.sleep(self._store.lease_s / 3)


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


class SqlDrainJournal:
    """Which drains this replica had open: one left open at start-up means its last process died
    mid-drain. Another replica's open drains are its own business (it is alive, or restarts).
    Owed drains are everyone's: a doorbell redelivered to any replica must find the debt."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def opened(self, drain_id: str, reason: str) -> None:
        await self._store.execute(
            kit.Dialect.upsert("drain_journal", ("drain_id", "reason", "opened_at", "holder"), ("drain_id",)),
            (drain_id, reason, _now(), self._store.holder),
        )

    async def closed(self, drain_id: str) -> None:
        await self._store.execute("DELETE FROM drain_journal WHERE drain_id = ?", (drain_id,))

    async def left_open(self) -> list[str]:
        rows = await self._store.all(
            "SELECT drain_id FROM drain_journal WHERE holder = ? OR holder IS NULL ORDER BY opened_at",
            (self._store.holder,),
        )
        return [row[0] for row in rows]

    async def owe(self, drain_id: str, reason: str) -> None:
        await self._store.execute(
            kit.Dialect.upsert("drain_owed", ("drain_id", "reason", "owed_at", "holder"), ("drain_id",)),
            (drain_id, reason, _now(), self._store.holder),
        )

    async def owed(self) -> list[str]:
        rows = await self._store.all("SELECT drain_id FROM drain_owed ORDER BY owed_at")
        return [row[0] for row in rows]

    async def paid(self, drain_ids: list[str]) -> None:
        for drain_id in drain_ids:
            await self._store.execute("DELETE FROM drain_owed WHERE drain_id = ?", (drain_id,))


class SqlControls:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def kill_switches(self) -> list[KillSwitch]:
        rows = await self._store.all(
            "SELECT scope, engaged, changed_at, changed_by, reason FROM kill_switch ORDER BY scope"
        )
        return [
            KillSwitch(
                scope=r[0], engaged=bool(r[1]), changed_at=datetime.fromisoformat(r[2]), changed_by=r[3], reason=r[4]
            )
            for r in rows
        ]

    async def save_kill_switch(self, switch: KillSwitch) -> bool:
        # Only a newer change wins, so a redelivered old message cannot undo a newer one.
        changed = await self._store.execute(
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
        return changed == 1
