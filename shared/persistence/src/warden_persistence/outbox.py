"""A transactional outbox and its relay: the messages a unit of work implies are written in the
same transaction as its state, published once it has committed, then marked and later purged.

A crash between commit and publish loses nothing: redelivery of the cause finds its stored
messages (`Outbox.of_cause`, same ids, so the broker drops duplicates) and the relay's flush
publishes stragglers. The kit knows no message type: rows hold an id and a text body, a store
turns them into its messages, and `Relay` publishes whatever the store's port hands it.

Timestamps are the store's own (fixed-width UTC text on SQLite, TIMESTAMPTZ on PostgreSQL):
`Outbox` only compares them, so the store passes values as it stores them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from warden_persistence.database import Session
from warden_persistence.dialect import Dialect

T = TypeVar("T")

_COLUMNS = ("envelope_id", "cause_id", "body", "created_at")


def outbox_schema(dialect: Dialect, time: str, table: str = "outbox") -> str:
    """The table and its indexes (IF NOT EXISTS), for a store's migration; `time` is the store's
    timestamp column type."""
    seq = dialect.pick(sqlite="INTEGER PRIMARY KEY AUTOINCREMENT", postgres="BIGSERIAL PRIMARY KEY")
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (seq {seq}, envelope_id TEXT NOT NULL UNIQUE, cause_id TEXT, "
        f"body TEXT NOT NULL, created_at {time} NOT NULL, published_at {time});"
        f"CREATE INDEX IF NOT EXISTS {table}_cause ON {table} (cause_id);"
        f"CREATE INDEX IF NOT EXISTS {table}_unpublished ON {table} (published_at, seq)"
    )


class Outbox:
    """The outbox's SQL, run on the caller's session (so staging shares its transaction)."""

    def __init__(self, table: str = "outbox") -> None:
        # Names are the store's constants; values always go through placeholders.
        self._table = table
        self._stage = Dialect.insert_ignore(table, _COLUMNS)

    async def stage(self, s: Session, cause_id: str | None, messages: Sequence[tuple[str, str]], at: object) -> None:
        """(id, body) pairs caused by `cause_id`; an id already staged is left as it was."""
        for envelope_id, body in messages:
            await s.execute(self._stage, (envelope_id, cause_id, body, at))

    async def of_cause(self, s: Session, cause_id: str) -> list[str]:
        """Bodies staged for `cause_id`, in the order they were staged."""
        rows = await s.all(f"SELECT body FROM {self._table} WHERE cause_id = ? ORDER BY seq", (cause_id,))  # noqa: S608
        return [r[0] for r in rows]

    async def unpublished(self, s: Session, created_before: object, limit: int) -> list[str]:
        rows = await s.all(
            f"SELECT body FROM {self._table} WHERE published_at IS NULL AND created_at <= ? ORDER BY seq LIMIT ?",  # noqa: S608
            (created_before, limit),
        )
        return [r[0] for r in rows]

    async def mark_published(self, s: Session, envelope_ids: Sequence[str], at: object) -> None:
        if not envelope_ids:
            return
        marks = ", ".join("?" * len(envelope_ids))
        # One statement for the whole outbox of a decision.
        await s.execute(
            f"UPDATE {self._table} SET published_at = ? WHERE envelope_id IN ({marks})",  # noqa: S608
            (at, *envelope_ids),
        )

    async def purge(self, s: Session, older_than: object) -> None:
        """Forgets published rows created before `older_than`; unpublished ones stay."""
        await s.execute(
            f"DELETE FROM {self._table} WHERE published_at IS NOT NULL AND created_at < ?",  # noqa: S608
            (older_than,),
        )


class OutboxStore(Protocol[T]):
    """What the relay needs of a store (SQL or not)."""

    async def unpublished(self, created_before: datetime, limit: int = 100) -> list[T]: ...

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None: ...

    async def purge(self, older_than: datetime, now: datetime) -> None:
        """Drops what is older than the retention (published rows, and the store's own)."""


def one_wave(messages: Sequence[T]) -> list[list[T]]:
    return [list(messages)] if messages else []


class Relay(Generic[T]):
    """Publishes a unit of work's messages after its commit, wave by wave (all of a wave at once;
    a wave starts only when the one before is on the bus), marks the sent ones in one statement,
    and leaves a failure's rows to `flush`, which a timer calls."""

    # Rows younger than this are still being published by the handler that wrote them.
    FLUSH_GRACE = timedelta(seconds=2)
    RETENTION = timedelta(days=7)

    def __init__(
        self,
        publish: Callable[[T], Awaitable[None]],
        store: OutboxStore[T],
        clock: Callable[[], datetime],
        *,
        id_of: Callable[[T], str],
        waves: Callable[[Sequence[T]], list[list[T]]] = one_wave,
    ) -> None:
        self._publish = publish
        self._store = store
        self._clock = clock
        self._id_of = id_of
        self._waves = waves

    async def send(self, messages: Sequence[T]) -> None:
        sent: list[str] = []
        failed: BaseException | None = None
        for wave in self._waves(messages):
            results = await asyncio.gather(*(self._publish(m) for m in wave), return_exceptions=True)
            sent += [self._id_of(m) for m, r in zip(wave, results, strict=True) if not isinstance(r, BaseException)]
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                break  # the next wave may depend on this one being on the bus
        if sent:
            await self._store.mark_published(sent, self._clock())
        if failed is not None:
            raise failed

    async def flush(self) -> int:
        """Publishes what its handler did not (older than the grace), purges past the retention;
        returns how many rows it tried."""
        now = self._clock()
        waiting = await self._store.unpublished(now - self.FLUSH_GRACE)
        await self.send(waiting)
        await self._store.purge(now - self.RETENTION, now)
        return len(waiting)
