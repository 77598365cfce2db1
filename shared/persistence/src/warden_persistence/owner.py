"""The one shape every store on the kit shares: it owns one Database from open() to close()."""

from __future__ import annotations

from typing import ClassVar

from warden_persistence.database import Database


class DatabaseOwner:
    """Base of a store holding one kit `Database`: its `open()` sets `_db` (from `open_database`),
    the runtime's stop hook calls `close()`, and `db` outside that span is a clear error rather
    than an AttributeError on None somewhere inside a query."""

    store_name: ClassVar[str] = "store"
    _db: Database | None = None

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError(f"{self.store_name} is not open")
        return self._db
