"""`TicketStore` on SQLite: verified tickets by action id, kept across restarts of the authority
(the broker does not redeliver a ticket once it was acknowledged). Opened by `warden_persistence`
(WAL, synchronous=FULL, busy timeout, file 0600 in a 0700 folder), schema in `state_schema`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warden_contracts.events import ElevationTicket
from warden_persistence import Database, DatabaseOwner, Dialect, open_database

from warden_elevation.adapters.state_schema import MIGRATIONS

_PUT = Dialect.insert_ignore("tickets", ["action_id", "principal", "not_after", "received_at", "body"])


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class SqliteTicketStore(DatabaseOwner):
    store_name = "ticket store"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: Database | None = None

    async def open(self) -> None:
        self._db = await open_database(None, self._path, MIGRATIONS)

    async def put(self, ticket: ElevationTicket) -> bool:
        async with self.db.transaction() as s:
            added = await s.execute(
                _PUT,
                (
                    ticket.action_id,
                    ticket.principal,
                    _utc(ticket.not_after),
                    _utc(datetime.now(UTC)),
                    ticket.model_dump_json(),
                ),
            )
        return added == 1

    async def get(self, action_id: str) -> ElevationTicket | None:
        async with self.db.transaction() as s:
            row = await s.one("SELECT body FROM tickets WHERE action_id = ?", (action_id,))
        return ElevationTicket.model_validate_json(row[0]) if row else None

    async def oldest_open(self, principal: str, now: datetime) -> ElevationTicket | None:
        async with self.db.transaction() as s:
            row = await s.one(
                "SELECT body FROM tickets WHERE principal = ? AND released_at IS NULL AND not_after > ?"
                " ORDER BY received_at LIMIT 1",
                (principal, _utc(now)),
            )
        return ElevationTicket.model_validate_json(row[0]) if row else None

    async def released(self, action_id: str) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                "UPDATE tickets SET released_at = ? WHERE action_id = ? AND released_at IS NULL",
                (_utc(datetime.now(UTC)), action_id),
            )
