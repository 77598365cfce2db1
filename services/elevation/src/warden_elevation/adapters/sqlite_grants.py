"""`GrantStore` on SQLite: the grants in force, so a restarted authority still releases a grant for
the holder of its secret and announces its expiry. Only the secret's SHA-256 is kept; the
credentials themselves were handed to the requester and are never stored. Opened by
`warden_persistence` (WAL, synchronous=FULL, busy timeout, file 0600), schema in `state_schema`."""

from __future__ import annotations

from pathlib import Path

from warden_contracts.events import ElevationTicket
from warden_persistence import Database, DatabaseOwner, Dialect, open_database

from warden_elevation.adapters.state_schema import MIGRATIONS
from warden_elevation.domain.model import ActiveGrant

_ADD = Dialect.upsert(
    "grants",
    ["grant_id", "principal", "expires_at", "justification", "secret_sha256", "ticket", "announced"],
    ["grant_id"],
)


class SqliteGrantStore(DatabaseOwner):
    store_name = "grant store"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: Database | None = None

    async def open(self) -> None:
        self._db = await open_database(None, self._path, MIGRATIONS)

    async def add(self, grant: ActiveGrant) -> None:
        async with self.db.transaction() as s:
            await s.execute(
                _ADD,
                (
                    grant.grant_id,
                    grant.principal,
                    grant.expires_at,
                    grant.justification,
                    grant.secret_sha256,
                    grant.ticket.model_dump_json(),
                    0,
                ),
            )

    async def announced(self, grant_id: str) -> None:
        async with self.db.transaction() as s:
            await s.execute("UPDATE grants SET announced = 1 WHERE grant_id = ?", (grant_id,))

    async def remove(self, grant_id: str) -> None:
        async with self.db.transaction() as s:
            await s.execute("DELETE FROM grants WHERE grant_id = ?", (grant_id,))

    async def live(self) -> list[ActiveGrant]:
        async with self.db.transaction() as s:
            rows = await s.all(
                "SELECT grant_id, principal, expires_at, justification, secret_sha256, ticket, announced"
                " FROM grants ORDER BY expires_at"
            )
        return [
            ActiveGrant(
                gid, principal, ElevationTicket.model_validate_json(ticket), expires, why, digest, bool(announced)
            )
            for gid, principal, expires, why, digest, ticket, announced in rows
        ]
