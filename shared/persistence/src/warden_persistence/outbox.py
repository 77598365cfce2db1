"""A transactional outbox and its relay: the messages a unit of work implies are written in the
same transaction as its state, published once it has committed, then marked and later purged.

A crash between commit and publish loses nothing: redelivery of the cause finds its stored
messages (`Outbox.of_cause`, same ids, so the broker drops duplicates) and the relay's flush
publishes stragglers. The kit knows no message type: rows hold an id and a text body, a store
turns them into its messages, and `Relay` publishes whatever the store's port hands it.

Timestamps are the store's own (fixed-width UTC text on SQLite, TIMESTAMPTZ on PostgreSQL):
`Outbox` only compares them, so the store passes values as it stores them.

Replicas share the outbox, so the relay's flush claims before it publishes: it takes unsent rows
for a lease (claimed_by, claimed_until in epoch seconds; `outbox_claims` adds the columns), on
PostgreSQL under `FOR UPDATE SKIP LOCKED` in the claim's transaction, so of two replicas flushing
at once each row goes out from one (the broker's duplicate window is the fallback, not the
mechanism). A claim takes whole causes (every unsent row of a cause it touches), so a doorbell is
never claimed by one replica while its action waits in another's batch. A failed or cancelled
publish gives its rows back at once; a claimer that died leaves them to the others after the
lease. SQLite has one process, whose flush takes every unsent row as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from warden_persistence.database import Session
from warden_persistence.dialect import Dialect
from warden_persistence.migrations import add_missing_columns

T = TypeVar("T")

log = logging.getLogger("warden.persistence")

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


async def outbox_claims(session: Session, table: str = "outbox") -> None:
    """Migration step: which replica is publishing an unsent row, and until when (epoch seconds)."""
    real = session.dialect.pick(sqlite="REAL", postgres="DOUBLE PRECISION")
    await add_missing_columns(session, table, {"claimed_by": "TEXT", "claimed_until": real})


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

    async def claim(
        self, s: Session, claimer: str, created_before: object, now: float, until: float, limit: int
    ) -> list[str]:
        """Bodies of up to `limit` unsent rows created by `created_before` (plus the rest of their
        causes), oldest first, taken by `claimer` until `until` (epoch seconds). PostgreSQL: rows
        another replica holds (a live claim, or locked by its claim right now) are skipped; SQLite
        (one process): every unsent row. Run it in a transaction of its own."""
        postgres = s.dialect.pick(sqlite=False, postgres=True)
        # An unsent row this claimer may take: its own, an unclaimed one, or one whose claim lapsed.
        free = " AND (claimed_by = ? OR claimed_by IS NULL OR COALESCE(claimed_until, 0) < ?)" if postgres else ""
        free_args: tuple[object, ...] = (claimer, now) if postgres else ()
        lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
        if postgres:
            # Claims between replicas take turns (a short SELECT and UPDATE each), so a cause is
            # never split between two claims taken at the same moment.
            await s.all("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || ?))", (self._table,))
        unsent = f"FROM {self._table} WHERE published_at IS NULL AND created_at <= ?{free}"
        first = await s.all(
            f"SELECT seq, cause_id {unsent} ORDER BY seq LIMIT ?{lock}",
            (created_before, *free_args, limit),
        )
        if not first:
            return []
        seqs = [r[0] for r in first]
        causes = sorted({r[1] for r in first if r[1] is not None})
        # The rest of each cause comes along: its doorbell must follow its action from one relay.
        of_causes = f" OR cause_id IN ({', '.join('?' * len(causes))})" if causes else ""
        rows = await s.all(
            f"SELECT seq, body {unsent} AND (seq IN ({', '.join('?' * len(seqs))}){of_causes}) ORDER BY seq{lock}",
            (created_before, *free_args, *seqs, *causes),
        )
        await s.execute(
            f"UPDATE {self._table} SET claimed_by = ?, claimed_until = ? WHERE seq IN ({', '.join('?' * len(rows))})",  # noqa: S608
            (claimer, until, *(r[0] for r in rows)),
        )
        return [r[1] for r in rows]

    async def release(self, s: Session, claimer: str) -> None:
        """Gives back `claimer`'s unsent rows, so any replica may take them now."""
        await s.execute(
            f"UPDATE {self._table} SET claimed_by = NULL, claimed_until = NULL "  # noqa: S608
            "WHERE claimed_by = ? AND published_at IS NULL",
            (claimer,),
        )

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

    async def claim_unpublished(
        self, claimer: str, created_before: datetime, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[T]:
        """Unsent messages created by `created_before`, oldest first, that `claimer` alone may
        publish until `now + lease`: none another live claimer holds, a lapsed claim taken over,
        and every unsent message of a cause it takes."""
        ...

    async def release(self, claimer: str) -> None:
        """Gives `claimer`'s unsent messages back at once (its publish failed or was cancelled)."""
        ...

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None: ...

    async def purge(self, older_than: datetime, now: datetime) -> None:
        """Drops what is older than the retention (published rows, and the store's own)."""


def one_wave(messages: Sequence[T]) -> list[list[T]]:
    return [list(messages)] if messages else []


class Relay(Generic[T]):
    """Publishes a unit of work's messages after its commit, wave by wave (all of a wave at once;
    a wave starts only when the one before is on the bus), marks the sent ones in one statement,
    and leaves a failure's rows to `flush`, which a timer calls. `claimer` names this replica in
    the rows its flush claims: unique among replicas sharing the outbox.

    `publish_many`, when the bus has one, takes a whole wave (written together, acknowledgements
    awaited together: no task per message); it is all or nothing, so a wave that fails is left
    unmarked whole and the flush publishes it again (same ids: the broker drops the repeats)."""

    # Rows younger than this are still being published by the handler that wrote them.
    FLUSH_GRACE = timedelta(seconds=2)
    RETENTION = timedelta(days=7)
    # Far longer than publishing a batch takes; the bound on a dead claimer's rows waiting.
    LEASE = timedelta(seconds=30)
    # Purging scans the retention's rows in a write transaction: not on every flush (a timer's,
    # twice a second), where it held the store against the handlers.
    PURGE_EVERY = timedelta(minutes=1)

    def __init__(
        self,
        publish: Callable[[T], Awaitable[None]],
        store: OutboxStore[T],
        clock: Callable[[], datetime],
        *,
        id_of: Callable[[T], str],
        claimer: str,
        waves: Callable[[Sequence[T]], list[list[T]]] = one_wave,
        lease: timedelta = LEASE,
        publish_many: Callable[[Sequence[T]], Awaitable[None]] | None = None,
    ) -> None:
        if not claimer:
            raise ValueError("a relay needs a claimer id (unique among the replicas sharing its outbox)")
        self._publish = publish
        self._publish_many = publish_many
        self._store = store
        self._clock = clock
        self._id_of = id_of
        self._waves = waves
        self._claimer = claimer
        self._lease = lease
        self._purged_at: datetime | None = None

    async def send(self, messages: Sequence[T]) -> None:
        sent: list[str] = []
        failed: BaseException | None = None
        for wave in self._waves(messages):
            if self._publish_many is not None:
                try:
                    await self._publish_many(wave)
                    sent += [self._id_of(m) for m in wave]
                except BaseException as err:  # the earlier waves are marked, then this is raised
                    failed = err
                    break
                continue
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
        """Publishes what its handler did not (older than the grace) and this replica could claim,
        purges past the retention (at most every `PURGE_EVERY`); returns how many rows it tried."""
        now = self._clock()
        waiting = await self._store.claim_unpublished(self._claimer, now - self.FLUSH_GRACE, now, self._lease)
        try:
            await self.send(waiting)
        except BaseException:
            # A failed publish, or this replica stopping: the others may take the rows now.
            await self._give_back()
            raise
        if self._purged_at is None or now - self._purged_at >= self.PURGE_EVERY:
            await self._store.purge(now - self.RETENTION, now)
            self._purged_at = now
        return len(waiting)

    async def _give_back(self) -> None:
        try:
            # Shielded: a stopping replica's cancellation must not cancel the release itself.
            await asyncio.shield(self._store.release(self._claimer))
        except Exception as err:  # the store is gone too: the claims lapse after the lease instead
            log.warning("outbox claims of %s left to lapse: %s", self._claimer, err)
