"""Planner replicas share one outbox: each flush claims its rows first, so two relays over one
PostgreSQL schema publish every row exactly once (counted at the publisher port), a dead
claimer's rows are taken over once its lease lapsed, and a failed publish gives its rows back.
SQLite has one process: its flush takes every unsent row, a previous process's claims included."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warden_bus.metrics import Counters
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import EscalationRaised
from warden_planner.adapters.sql_store import SqlStore
from warden_planner.handlers import Outbox
from warden_testkit.postgres import postgres_schema

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def letter(n: int) -> Envelope:
    return envelope_for(
        "sre.escalation.raised.v1",
        EscalationRaised(incident_id=f"inc-{n}", reason="r", raised_by="warden-planner"),
        source="warden/planner",
        correlationid=f"inc-{n}",
    )


class Recorder:
    """The publisher port, counting what reaches it; `hold` parks the first publish until released."""

    def __init__(self, published: list[str], *, hold: bool = False, fail: bool = False) -> None:
        self.published = published
        self.mine: list[str] = []
        self.fail = fail
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def publish(self, envelope: Envelope) -> None:
        self.holding.set()
        await self.release.wait()
        if self.fail:
            raise ConnectionError("broker unreachable")
        await asyncio.sleep(0)  # let the other relay run between two publishes
        self.published.append(envelope.id)
        self.mine.append(envelope.id)


async def stage(store: SqlStore, first: int, count: int, per_commit: int = 5) -> list[str]:
    ids: list[str] = []
    for start in range(first, first + count, per_commit):
        out = [letter(n) for n in range(start, start + per_commit)]
        await store.commit(f"msg-{start}", outgoing=out)
        ids += [e.id for e in out]
    return ids


@pytest.fixture
async def pg_replicas(tmp_path: Path) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    async with postgres_schema("planner_outbox") as url:
        first, second = SqlStore(tmp_path / "a.db", url), SqlStore(tmp_path / "b.db", url)
        await first.open()
        await second.open()
        yield first, second
        await first.close()
        await second.close()


async def test_a_row_claimed_by_one_relay_is_skipped_by_the_other(pg_replicas) -> None:
    first, second = pg_replicas
    ids = await stage(first, 0, 250)
    published: list[str] = []
    held = Recorder(published, hold=True)
    free = Recorder(published)
    a = Outbox(first, held, Counters(), claimer="a")
    b = Outbox(second, free, Counters(), claimer="b")
    a_flush = asyncio.create_task(a.flush())
    await held.holding.wait()  # a has claimed its first batch and is publishing it
    await b.flush()
    held.release.set()
    await a_flush
    assert Counter(published) == Counter(ids)  # every row, each once
    assert len(held.mine) == Outbox.BATCH and len(free.mine) == len(ids) - Outbox.BATCH
    assert await first.unsent() == []


async def test_two_relays_flushing_while_replicas_commit_publish_every_row_once(pg_replicas) -> None:
    first, second = pg_replicas
    published: list[str] = []
    relays = [
        Outbox(first, Recorder(published), Counters(), claimer="a"),
        Outbox(second, Recorder(published), Counters(), claimer="b"),
    ]
    staged: list[str] = []
    done = asyncio.Event()

    async def keep_flushing(relay: Outbox) -> None:
        while not done.is_set():
            await relay.flush()
            await asyncio.sleep(0)

    async def commit_on_both() -> None:
        for round_ in range(20):
            store = (first, second)[round_ % 2]
            staged.extend(await stage(store, round_ * 20, 20))
        done.set()

    await asyncio.gather(commit_on_both(), *(keep_flushing(r) for r in relays))
    await asyncio.gather(*(r.flush() for r in relays))  # stragglers committed after the last pass
    assert Counter(published) == Counter(staged)
    assert max(Counter(published).values()) == 1
    assert await first.unsent() == []


async def test_a_dead_claimers_rows_wait_out_its_lease_then_go_out_once(pg_replicas) -> None:
    first, second = pg_replicas
    ids = await stage(first, 0, 10)
    claimed = await first.claim_unsent("crashed", NOW, LEASE)  # then the replica dies: never published
    assert [e.id for e in claimed] == ids
    published: list[str] = []
    clock = [NOW + LEASE - timedelta(seconds=1)]
    survivor = Outbox(second, Recorder(published), Counters(), claimer="b", lease=LEASE, clock=lambda: clock[0])
    await survivor.flush()
    assert published == []  # the claim still runs: its holder may be publishing
    clock[0] = NOW + LEASE + timedelta(seconds=1)
    await survivor.flush()
    assert published == ids  # oldest first, each once
    await survivor.flush()
    assert published == ids and await second.unsent() == []


async def test_a_failed_publish_gives_its_rows_back_at_once(make_store) -> None:
    store = make_store()
    await store.open()
    try:
        ids = await stage(store, 0, 10)
        published: list[str] = []
        broken = Outbox(store, Recorder(published, fail=True), Counters(), claimer="a", clock=lambda: NOW)
        with pytest.raises(ConnectionError):
            await broken.flush()
        other = Outbox(store, Recorder(published), Counters(), claimer="b", clock=lambda: NOW)
        await other.flush()
        assert published == ids
    finally:
        await store.close()


async def test_a_flush_cancelled_by_a_stop_gives_its_rows_back_at_once(pg_replicas) -> None:
    first, second = pg_replicas
    ids = await stage(first, 0, 10)
    published: list[str] = []
    held = Recorder(published, hold=True)
    stopping = asyncio.create_task(Outbox(first, held, Counters(), claimer="a", clock=lambda: NOW).flush())
    await held.holding.wait()
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await Outbox(second, Recorder(published), Counters(), claimer="b", clock=lambda: NOW).flush()
    assert published == ids  # no lease to wait out


async def test_sqlite_a_restarted_process_publishes_its_predecessors_claims_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "planner.db"
    before = SqlStore(path)
    await before.open()
    ids = await stage(before, 0, 10)
    await before.claim_unsent("before-the-crash", NOW, LEASE)
    await before.close()
    after = SqlStore(path)
    await after.open()
    try:
        published: list[str] = []
        await Outbox(after, Recorder(published), Counters(), claimer="after", clock=lambda: NOW).flush()
        assert published == ids
    finally:
        await after.close()
