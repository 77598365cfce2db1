"""`GrantStore` on SQLite: the grants in force, so a restarted authority still releases a grant for
the holder of its secret and announces its expiry. Only the secret's SHA-256 is kept; the
credentials themselves were handed to the requester and are never stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
from warden_contracts.events import ElevationTicket

from warden_elevation.domain.model import ActiveGrant

SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (
  grant_id TEXT PRIMARY KEY,
  principal TEXT NOT NULL,
  expires_at REAL NOT NULL,
  justification TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  ticket TEXT NOT NULL
);
"""


class SqliteGrantStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self._path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.executescript(SCHEMA)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("grant store is not open")
        return self._db

    async def add(self, grant: ActiveGrant) -> None:
        async with self._lock:
            await self.db.execute(
                "INSERT OR REPLACE INTO grants (grant_id, principal, expires_at, justification, secret_sha256, ticket)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    grant.grant_id,
                    grant.principal,
                    grant.expires_at,
                    grant.justification,
                    grant.secret_sha256,
                    grant.ticket.model_dump_json(),
                ),
            )

    async def remove(self, grant_id: str) -> None:
        async with self._lock:
            await self.db.execute("DELETE FROM grants WHERE grant_id = ?", (grant_id,))

    async def live(self) -> list[ActiveGrant]:
        async with self.db.execute(
            "SELECT grant_id, principal, expires_at, justification, secret_sha256, ticket FROM grants"
            " ORDER BY expires_at"
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            ActiveGrant(gid, principal, ElevationTicket.model_validate_json(ticket), expires, why, digest)
            for gid, principal, expires, why, digest, ticket in rows
        ]
