"""`IncidentStore` in SQL, one body for SQLite (embedded) and PostgreSQL (several replicas).

Each transaction is one pull batch of messages (`commits_batches`): one COMMIT, one fsync.
On SQLite the write transaction (BEGIN IMMEDIATE) excludes every other writer, so reading then
writing is safe as it stands. On PostgreSQL (READ COMMITTED) replicas run side by side, and what
a transaction reads before it decides is locked until it commits:

- a message id (advisory lock, then the `processed` row): a redelivery handled by another replica
  waits for the first, then finds its stored outcome and changes nothing;
- a correlation key (advisory lock, taken when its open incident or its held alerts are read):
  two replicas never both find "no open incident" for one fingerprint, so never open two; the
  unique partial index `incidents_one_open_per_fingerprint` backs this up;
- an environment (advisory lock, taken before looking for a related incident to join): a replica
  opening an incident in an environment sees the incidents the others opened there, as one
  replica would;
- every incident row read (`FOR UPDATE`): concurrent attachments and resolutions of one incident
  queue instead of overwriting each other's counts.

A batch takes its message and key locks first, sorted (`lock_in_order`, called by the tracker
when the store `orders_locks`), so two batches cannot deadlock on those. One that still deadlocks
(on an environment or a related incident's row) or finds a unique key taken meanwhile rolls back
and raises `warden_persistence.Conflict`; the bus then handles each message alone, and a
redelivery finds what was committed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from warden_contracts.events import AlertReceived, IncidentChanged, Severity
from warden_persistence import (
    Database,
    DatabaseOwner,
    Dialect,
    Migration,
    Session,
    add_missing_columns,
    backend_of,
    open_database,
)

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
)
"""


async def _create(session: Session) -> None:
    await session.script(SCHEMA)
    if session.dialect.name == "postgres":
        # Arrival order of held alerts with equal times; SQLite has its rowid for that.
        await session.execute("ALTER TABLE pending_alerts ADD COLUMN IF NOT EXISTS seq BIGSERIAL")


async def _columns_older_databases_lack(session: Session) -> None:
    # Databases made before these columns existed (before migrations were numbered) get them
    # now; all are nullable or defaulted. On a database made by migration 1 this changes nothing.
    await add_missing_columns(
        session,
        "incidents",
        {
            "owner": "TEXT",
            "commander_channel": "TEXT",
            "services": "TEXT NOT NULL DEFAULT '[]'",
            "root_service": "TEXT",
        },
    )
    await add_missing_columns(session, "unmatched_alerts", {"reason": "TEXT NOT NULL DEFAULT 'unknown-alert'"})


MIGRATIONS = (Migration(1, _create), Migration(2, _columns_older_databases_lack))

COLUMNS = (
    "id",
    "fingerprint",
    "class",
    "title",
    "service",
    "resource_id",
    "environment",
    "resource_group",
    "severity",
    "status",
    "opened_at",
    "updated_at",
    "alert_count",
    "owner",
    "commander_channel",
    "services",
    "root_service",
)
_SELECT_INCIDENT = f"SELECT {', '.join(COLUMNS)} FROM incidents"  # noqa: S608 (constants only)
_SAVE_INCIDENT = Dialect.upsert("incidents", COLUMNS, ["id"])
_SAVE_PENDING = Dialect.upsert(
    "pending_alerts", ["alert_id", "key", "message_id", "received_at", "alert"], ["alert_id"]
)
_RECORD_UNMATCHED = Dialect.insert_ignore(
    "unmatched_alerts", ["message_id", "alert_id", "status", "received_at", "reason"]
)
_LINKS = "SELECT alert_id, incident_id, status, updated_at FROM alerts"
# Rows per multi-row INSERT of links (5 parameters each) and processed ids (3 each): a few
# thousand parameters, far under SQLite's and PostgreSQL's limits.
_WRITE_CHUNK = 200
_NEXT_SEQ = "SELECT COALESCE(MAX(attached_seq), 0) FROM alerts"
_SAVE_LINKS_HEAD = "INSERT INTO alerts (alert_id, incident_id, status, attached_seq, updated_at) VALUES "
_SAVE_LINKS_TAIL = (
    " ON CONFLICT (alert_id, incident_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at"
)
_MARK_PROCESSED_HEAD = "INSERT INTO processed (message_id, processed_at, outcome) VALUES "


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


_READ_AHEAD_CHUNK = 500  # ids per IN (...) list, well under SQLite's limit on parameters


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    distinct = list(dict.fromkeys(ids))
    return [distinct[i : i + _READ_AHEAD_CHUNK] for i in range(0, len(distinct), _READ_AHEAD_CHUNK)]


def _marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))


class SqlTransaction(IncidentTransaction):
    """Within one transaction an incident row is read once and written once: what it read it
    holds (the row, locked `FOR UPDATE` on PostgreSQL, and its key's lock, both until the
    commit, so no replica changes them meanwhile), and a change to a row already stored is
    kept until `flush` (before a query that reads incident rows, and before the commit). A
    storm's batch of 200 alerts on 50 incidents writes 50 rows, not 200. A new incident is
    written at once: the alert links that follow reference it. A key found without held alerts
    is not asked again until one is added.

    Alert links and processed ids are kept too, and written a few hundred rows per statement:
    links before a query that reads them (and after the incident rows they reference), processed
    ids at the commit (a message asked about again meanwhile is answered from what was kept).
    A link new to the table is numbered as the statement-at-a-time upsert numbered it: after
    every link stored before it, in the order this transaction saved them."""

    def __init__(self, session: Session) -> None:
        self._s = session
        self._locked: set[str] = set()
        self._open_by_key: dict[str, Incident | None] = {}  # None: known to have no open incident
        self._by_id: dict[str, Incident] = {}  # every row read or written, as it now stands
        self._unwritten: dict[str, Incident] = {}  # stored rows changed since, in first-change order
        self._none_held: set[str] = set()  # keys known to have no pending alerts (their lock is held)
        # Read up front for a batch (`read_ahead`), kept true by this transaction's own writes:
        self._outcomes: dict[str, str | None] = {}  # message id -> its stored outcome (JSON)
        self._unprocessed: set[str] = set()  # message ids known to have no processed row
        self._links_by_alert: dict[str, list[AlertLink]] = {}  # alert id -> all its links, in order
        self._not_pending: set[str] = set()  # alert ids known to have no pending row
        # Written by `flush` (links) and at the commit (processed ids), many rows per statement:
        self._unwritten_links: dict[tuple[str, str], AlertLink] = {}  # first-save order, latest state
        self._unwritten_processed: list[tuple[str, str, str | None]] = []  # (message id, at, outcome)
        self._kept_outcomes: dict[str, str | None] = {}  # message id -> outcome, of those
        d = session.dialect
        # SQLite's write transaction excludes every other writer: what it read stays true unless it
        # writes it itself. PostgreSQL replicas write beside it, so there it reads as it goes.
        self._reads_ahead = d.name == "sqlite"
        # SQLite has nothing to lock (its write transaction holds the only write lock): no lock
        # names are made there, three an alert in a storm.
        self._locks = d.name != "sqlite"
        self._for_update = d.for_update
        self._arrival = d.pick(sqlite="rowid", postgres="seq")
        self._joined = d.pick(
            sqlite="json_each(incidents.services)",
            postgres="json_array_elements_text(incidents.services::json) AS joined(value)",
        )

    async def lock_in_order(self, message_ids: Sequence[str], keys: Sequence[str]) -> None:
        """The locks a batch will take, all at once in one order (see the module docstring)."""
        names = {f"triage:message:{m}" for m in message_ids} | {f"triage:key:{k}" for k in keys}
        for name in sorted(names):
            await self._lock(name)

    async def read_ahead(self, message_ids: Sequence[str], alert_ids: Sequence[str], keys: Sequence[str] = ()) -> None:
        """What a batch would ask per alert (its message's processed row, its alert's links and
        whether it is held) and per correlation key (its open incident, whether it has held
        alerts), in a few queries for the whole batch (SQLite only)."""
        if not self._reads_ahead:
            return
        for chunk in _chunks([k for k in dict.fromkeys(keys) if k not in self._open_by_key]):  # a key per incident
            where = f" WHERE status = 'open' AND fingerprint IN ({_marks(chunk)})"
            open_now = {self._read(row).fingerprint for row in await self._s.all(_SELECT_INCIDENT + where, chunk)}
            self._open_by_key.update((k, None) for k in chunk if k not in open_now)
            query = f"SELECT DISTINCT key FROM pending_alerts WHERE key IN ({_marks(chunk)})"  # noqa: S608
            held = {r[0] for r in await self._s.all(query, chunk)}
            self._none_held.update(k for k in chunk if k not in held)
        for chunk in _chunks(message_ids):
            query = f"SELECT message_id, outcome FROM processed WHERE message_id IN ({_marks(chunk)})"  # noqa: S608
            found: dict[str, str | None] = {r[0]: r[1] for r in await self._s.all(query, chunk)}
            self._outcomes.update(found)
            self._unprocessed.update(m for m in chunk if m not in found)
        for chunk in _chunks(alert_ids):
            links: dict[str, list[AlertLink]] = {a: [] for a in chunk}
            query = _LINKS + f" WHERE alert_id IN ({_marks(chunk)}) ORDER BY attached_seq"
            for row in await self._s.all(query, chunk):
                links[row[0]].append(_link(row))
            self._links_by_alert.update(links)
            query = f"SELECT alert_id FROM pending_alerts WHERE alert_id IN ({_marks(chunk)})"  # noqa: S608
            held = {r[0] for r in await self._s.all(query, chunk)}
            self._not_pending.update(a for a in chunk if a not in held)

    async def _lock(self, name: str) -> None:
        # Held until the transaction ends, so taking it again changes nothing.
        if name not in self._locked:
            await self._s.lock(name)
            self._locked.add(name)

    def _known(self, incident: Incident) -> Incident:
        self._by_id[incident.id] = incident
        if incident.status == IncidentStatus.OPEN:
            self._open_by_key[incident.fingerprint] = incident
        elif (held := self._open_by_key.get(incident.fingerprint)) is not None and held.id == incident.id:
            self._open_by_key[incident.fingerprint] = None
        return incident

    async def flush(self) -> None:
        """Writes the incident rows changed since they were last written, then the alert links."""
        unwritten, self._unwritten = self._unwritten, {}
        for incident in unwritten.values():
            await self._write_incident(incident)
        await self._flush_links()

    async def _flush_links(self) -> None:
        if not self._unwritten_links:
            return
        links, self._unwritten_links = list(self._unwritten_links.values()), {}
        # The next number after every stored link. On PostgreSQL another replica may draw the same
        # numbers for other incidents; one incident's links are written under its row lock
        # (held since it was read), so their order holds, as with one upsert per link.
        row = await self._s.one(_NEXT_SEQ)
        seq = int(row[0]) if row else 0
        for start in range(0, len(links), _WRITE_CHUNK):
            chunk = links[start : start + _WRITE_CHUNK]
            params: list[Any] = []
            for link in chunk:
                seq += 1  # an upsert that meets a stored link keeps that link's number
                params += (link.alert_id, link.incident_id, link.status.value, seq, link.updated_at.isoformat())
            rows = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
            await self._s.execute(_SAVE_LINKS_HEAD + rows + _SAVE_LINKS_TAIL, params)

    async def _flush_processed(self) -> None:
        marked, self._unwritten_processed = self._unwritten_processed, []
        self._kept_outcomes = {}
        for start in range(0, len(marked), _WRITE_CHUNK):
            chunk = marked[start : start + _WRITE_CHUNK]
            params: list[Any] = []
            for row in chunk:
                params += row
            rows = ", ".join(["(?, ?, ?)"] * len(chunk))
            await self._s.execute(_MARK_PROCESSED_HEAD + rows, params)

    async def finish(self) -> None:
        """Everything kept, written: before the commit."""
        await self.flush()
        await self._flush_processed()

    async def processed(self, message_id: str) -> Processed | None:
        if self._locks:
            await self._lock(f"triage:message:{message_id}")
        if message_id in self._kept_outcomes:
            outcome = self._kept_outcomes[message_id]
            return Processed(IncidentChanged.model_validate_json(outcome) if outcome else None)
        if message_id in self._unprocessed:
            return None
        if message_id in self._outcomes:
            outcome = self._outcomes[message_id]
        else:
            row = await self._s.one("SELECT outcome FROM processed WHERE message_id = ?", (message_id,))
            if row is None:
                return None
            outcome = row[0]
        return Processed(IncidentChanged.model_validate_json(outcome) if outcome else None)

    async def mark_processed(self, message_id: str, outcome: IncidentChanged | None, at: datetime) -> None:
        # Marked twice (or marked when stored), its INSERT fails on the key at the commit.
        stored = outcome.model_dump_json() if outcome else None
        self._unwritten_processed.append((message_id, at.isoformat(), stored))
        self._kept_outcomes.setdefault(message_id, stored)
        self._unprocessed.discard(message_id)  # asked again, it is answered from what was kept

    async def open_incident(self, fingerprint: str) -> Incident | None:
        if self._locks:
            await self._lock(f"triage:key:{fingerprint}")
        if fingerprint in self._open_by_key:
            return self._open_by_key[fingerprint]
        row = await self._s.one(
            _SELECT_INCIDENT + " WHERE fingerprint = ? AND status = 'open'" + self._for_update, (fingerprint,)
        )
        if row is None:
            self._open_by_key[fingerprint] = None
            return None
        return self._read(row)

    def _read(self, row: Any) -> Incident:
        incident = _incident(row)
        return self._by_id.get(incident.id) or self._known(incident)  # what this transaction changed wins

    async def incident(self, incident_id: str) -> Incident | None:
        if incident_id in self._by_id:
            return self._by_id[incident_id]
        row = await self._s.one(_SELECT_INCIDENT + " WHERE id = ?" + self._for_update, (incident_id,))
        return self._read(row) if row else None

    async def save_incident(self, incident: Incident) -> None:
        stored = incident.id in self._by_id
        self._known(incident)
        if stored:
            self._unwritten[incident.id] = incident  # replaces an earlier unwritten change, keeps its place
        else:
            if any(i.fingerprint == incident.fingerprint for i in self._unwritten.values()):
                # The key's incident resolved earlier in this batch is still unwritten: stored
                # first, the new one does not meet it as a second open incident for the key.
                await self.flush()
            await self._write_incident(incident)

    async def _write_incident(self, incident: Incident) -> None:
        await self._s.execute(
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
        if self._locks:
            await self._lock(f"triage:environment:{environment}")
        if not services:
            return []
        await self.flush()  # the query reads incident rows: they must say what this transaction did
        marks = ", ".join("?" * len(services))
        joined = f"EXISTS (SELECT 1 FROM {self._joined} WHERE value IN ({marks}))"  # noqa: S608 (constants only)
        where = f" WHERE status = 'open' AND environment = ? AND (service IN ({marks}) OR {joined})"
        names = sorted(services)
        rows = await self._s.all(_SELECT_INCIDENT + where + self._for_update, (environment, *names, *names))
        return [self._read(r) for r in rows]

    async def count_firing(self, incident_id: str) -> int:
        await self._flush_links()
        row = await self._s.one(
            "SELECT COUNT(*) FROM alerts WHERE incident_id = ? AND status = 'Fired'", (incident_id,)
        )
        return int(row[0]) if row else 0

    async def add_pending(self, pending: PendingAlert) -> None:
        self._none_held.discard(pending.key)
        self._not_pending.discard(pending.alert_id)
        await self._s.execute(
            _SAVE_PENDING,
            (
                pending.alert_id,
                pending.key,
                pending.message_id,
                pending.received_at.isoformat(),
                pending.alert.model_dump_json(),
            ),
        )

    async def pending(self, key: str) -> list[PendingAlert]:
        if self._locks:
            await self._lock(f"triage:key:{key}")
        if key in self._none_held:
            return []
        rows = await self._s.all(
            "SELECT key, alert_id, message_id, received_at, alert FROM pending_alerts WHERE key = ? "  # noqa: S608
            f"ORDER BY received_at, {self._arrival}",
            (key,),
        )
        if not rows:
            self._none_held.add(key)
        return [_pending(r) for r in rows]

    async def is_pending(self, alert_id: str) -> bool:
        if alert_id in self._not_pending:
            return False
        return await self._s.one("SELECT 1 FROM pending_alerts WHERE alert_id = ?", (alert_id,)) is not None

    async def remove_pending(self, alert_id: str) -> bool:
        if alert_id in self._not_pending:
            return False
        return await self._s.execute("DELETE FROM pending_alerts WHERE alert_id = ?", (alert_id,)) > 0

    async def drop_pending(self, key: str) -> None:
        await self._s.execute("DELETE FROM pending_alerts WHERE key = ?", (key,))
        self._none_held.add(key)

    async def held_groups(self) -> list[HeldGroup]:
        rows = await self._s.all(
            "SELECT key, alert_id, message_id, received_at, alert, held FROM ("  # noqa: S608
            "SELECT pending_alerts.*, COUNT(*) OVER (PARTITION BY key) AS held, "
            f"ROW_NUMBER() OVER (PARTITION BY key ORDER BY received_at, {self._arrival}) AS place FROM pending_alerts"
            ") AS ranked WHERE place = 1"
        )
        return [HeldGroup(r[0], _pending(r), r[5]) for r in rows]

    async def links_of_alert(self, alert_id: str) -> list[AlertLink]:
        if alert_id in self._links_by_alert:
            return list(self._links_by_alert[alert_id])
        await self._flush_links()
        rows = await self._s.all(_LINKS + " WHERE alert_id = ? ORDER BY attached_seq", (alert_id,))
        return [_link(r) for r in rows]

    async def links_of_incident(self, incident_id: str, *, limit: int | None = None) -> list[AlertLink]:
        await self._flush_links()
        query = _LINKS + " WHERE incident_id = ? ORDER BY attached_seq"
        if limit is None:
            rows = await self._s.all(query, (incident_id,))
        else:
            rows = await self._s.all(query + " LIMIT ?", (incident_id, limit))
        return [_link(r) for r in rows]

    async def save_link(self, link: AlertLink) -> None:
        # Kept until `flush`, then upserted: a link already stored keeps its original attachment
        # order (an alert re-attached to its incident), a new one is numbered after all stored.
        # Saved again before the flush, it keeps its place among the kept and takes the new state.
        self._unwritten_links[(link.alert_id, link.incident_id)] = link
        known = self._links_by_alert.get(link.alert_id)
        if known is not None:  # as the upsert left it: in its place if it was there, else last
            at = next((i for i, old in enumerate(known) if old.incident_id == link.incident_id), len(known))
            known[at : at + 1] = [link]

    async def record_unmatched(
        self, message_id: str, alert_id: str, status: AlertStatus, at: datetime, reason: str
    ) -> None:
        await self._s.execute(_RECORD_UNMATCHED, (message_id, alert_id, status.value, at.isoformat(), reason))


class SqlIncidentStore(DatabaseOwner):
    """Open with `await store.open()` (the runtime's on_start hook), close with `close()`.

    `url` None: SQLite at `sqlite_path`; `postgresql://user@host/db?schema=name`: PostgreSQL
    (schema `triage` when the URL names none)."""

    store_name = "incident store"
    commits_batches = True  # one transaction may hold many messages (each marked processed)

    def __init__(self, url: str | None, sqlite_path: Path | None = None, *, pool_size: int = 4) -> None:
        self.url = url
        self.path = sqlite_path
        self._pool_size = pool_size
        self._db: Database | None = None

    @property
    def orders_locks(self) -> bool:
        """Whether a batch should take its locks up front (`SqlTransaction.lock_in_order`): only
        where replicas share the database; SQLite's write transaction is already exclusive."""
        return backend_of(self.url) == "postgres"

    async def open(self) -> None:
        self._db = await open_database(
            self.url, self.path, MIGRATIONS, default_schema="triage", pool_size=self._pool_size
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[IncidentTransaction]:
        async with self.db.transaction() as session:
            tx = SqlTransaction(session)
            yield tx
            await tx.finish()
