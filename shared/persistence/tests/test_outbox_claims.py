"""The kit's relay claiming outbox rows, on real SQLite and the machine's PostgreSQL: two relays
over one PostgreSQL schema publish every row exactly once (counted at the publisher), a dead
claimer's rows go out once after its lease (an injected clock, no waiting), a failed or cancelled
publish gives its rows back at once, a claim keeps a cause's doorbell after its action, and an
outbox table made before the claim columns is migrated on open."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warden_persistence import Database, Migration, open_database, table_columns
from warden_persistence.outbox import Outbox, Relay, outbox_claims, outbox_schema
from warden_testkit.postgres import postgres_schema

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIGRATIONS = [
    Migration(1, lambda s: s.script(outbox_schema(s.dialect, s.dialect.pick(sqlite="TEXT", postgres="TIMESTAMPTZ")))),
    Migration(2, outbox_claims),
]


class Store:
    """An outbox store as a service builds one on the kit: bodies are the message ids."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.box = Outbox()

    def at(self, value: datetime) -> object:
        return self.db.dialect.pick(sqlite=value.isoformat(), postgres=value)

    async def stage(self, cause: str, ids: Sequence[str], now: datetime) -> None:
        async with self.db.transaction() as s:
            await self.box.stage(s, cause, [(i, i) for i in ids], self.at(now))

    async def claim_unpublished(
        self, claimer: str, created_before: datetime, now: datetime, lease: timedelta, limit: int = 100
    ) -> list[str]:
        async with self.db.transaction() as s:
            return await self.box.claim(
                s, claimer, self.at(created_before), now.timestamp(), (now + lease).timestamp(), limit
            )

    async def release(self, claimer: str) -> None:
        async with self.db.transaction() as s:
            await self.box.release(s, claimer)

    async def mark_published(self, envelope_ids: Sequence[str], now: datetime) -> None:
        async with self.db.transaction() as s:
            await self.box.mark_published(s, envelope_ids, self.at(now))

    async def purge(self, older_than: datetime, now: datetime) -> None:
        async with self.db.transaction() as s:
            await self.box.purge(s, self.at(older_than))

    async def unsent(self) -> list[str]:
        async with self.db.read() as r:
            return await self.box.unpublished(r, self.at(NOW + timedelta(days=1)), 10_000)


class Publisher:
    """The bus port as the relay sees it: records what reached it, or fails / hangs on demand."""

    def __init__(self, sent: list[str], *, fail_on: str | None = None, hang_on: str | None = None) -> None:
        self.sent = sent
        self.fail_on = fail_on
        self.hang_on = hang_on
        self.hanging = asyncio.Event()

    async def publish(self, message: str) -> None:
        if message == self.fail_on:
            raise ConnectionError("broker unreachable")
        if message == self.hang_on:
            self.hanging.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)  # yield, so two relays' flushes interleave
        self.sent.append(message)


def relay(store: Store, publisher: Publisher, now: list[datetime], claimer: str) -> Relay[str]:
    return Relay(publisher.publish, store, lambda: now[0], id_of=lambda m: m, claimer=claimer, waves=doorbells_last)


def doorbells_last(messages: Sequence[str]) -> list[list[str]]:
    rest = [m for m in messages if not m.endswith(":bell")]
    bells = [m for m in messages if m.endswith(":bell")]
    return [w for w in (rest, bells) if w]


@pytest.fixture(params=["sqlite", "postgres"])
async def location(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str | None, Path]]:
    if request.param == "sqlite":
        yield None, tmp_path / "state" / "outbox.db"
    else:
        async with postgres_schema("outbox") as url:
            yield url, tmp_path / "unused.db"


@pytest.fixture
async def postgres() -> AsyncIterator[tuple[str | None, Path]]:
    async with postgres_schema("outbox") as url:
        yield url, Path("unused.db")


async def opened(location: tuple[str | None, Path]) -> Store:
    url, path = location
    return Store(await open_database(url, path, MIGRATIONS))


async def test_two_relays_over_one_postgres_schema_publish_every_row_exactly_once(postgres) -> None:
    a, b = await opened(postgres), await opened(postgres)
    try:
        for n in range(60):
            await a.stage(f"cause-{n}", [f"act-{n}", f"act-{n}:bell"], NOW)
        now = [NOW + timedelta(seconds=3)]
        sent: list[str] = []
        one, two = relay(a, Publisher(sent), now, "policy-a"), relay(b, Publisher(sent), now, "policy-b")
        for _ in range(10):
            await asyncio.gather(one.flush(), two.flush())
        assert len(sent) == 120
        assert Counter(sent).most_common(1)[0][1] == 1  # no row went out twice
        for n in range(60):
            assert sent.index(f"act-{n}") < sent.index(f"act-{n}:bell")
        assert await a.unsent() == []
    finally:
        await a.db.close()
        await b.db.close()


async def test_a_dead_claimers_rows_go_out_once_after_its_lease(postgres) -> None:
    store = await opened(postgres)
    try:
        await store.stage("cause-1", ["act-1", "act-1:bell"], NOW)
        now = [NOW + timedelta(seconds=3)]
        # A replica claims the rows and dies before publishing: its claim is all that is left.
        assert await store.claim_unpublished("policy-dead", NOW, now[0], Relay.LEASE) == ["act-1", "act-1:bell"]
        sent: list[str] = []
        survivor = relay(store, Publisher(sent), now, "policy-b")
        assert await survivor.flush() == 0  # the lease is live: not taken over
        now[0] = NOW + timedelta(seconds=3) + Relay.LEASE + timedelta(seconds=1)
        assert await survivor.flush() == 2
        assert await survivor.flush() == 0
        assert sent == ["act-1", "act-1:bell"]
    finally:
        await store.db.close()


async def test_a_failed_publish_gives_its_rows_back_at_once(location) -> None:
    store = await opened(location)
    try:
        await store.stage("cause-1", ["act-1", "act-1:bell"], NOW)
        now = [NOW + timedelta(seconds=3)]
        sent: list[str] = []
        with pytest.raises(ConnectionError):
            await relay(store, Publisher(sent, fail_on="act-1"), now, "policy-a").flush()
        assert sent == []  # the doorbell waits for its action
        assert await relay(store, Publisher(sent), now, "policy-b").flush() == 2  # no lease to wait out
        assert sent == ["act-1", "act-1:bell"]
    finally:
        await store.db.close()


async def test_a_cancelled_flush_gives_its_rows_back_at_once(location) -> None:
    store = await opened(location)
    try:
        await store.stage("cause-1", ["act-1"], NOW)
        now = [NOW + timedelta(seconds=3)]
        sent: list[str] = []
        hanging = Publisher(sent, hang_on="act-1")
        stopping = asyncio.create_task(relay(store, hanging, now, "policy-a").flush())
        await hanging.hanging.wait()
        stopping.cancel()  # a rolling restart stops the replica mid-publish
        with pytest.raises(asyncio.CancelledError):
            await stopping
        assert await relay(store, Publisher(sent), now, "policy-b").flush() == 1
        assert sent == ["act-1"]
    finally:
        await store.db.close()


async def test_a_claim_takes_a_whole_cause_so_its_doorbell_follows_its_action(location) -> None:
    store = await opened(location)
    try:
        await store.stage("cause-1", ["act-1", "act-2", "act-1:bell", "act-2:bell"], NOW)
        await store.stage("cause-2", ["act-3"], NOW)
        claimed = await store.claim_unpublished("policy-a", NOW, NOW, Relay.LEASE, limit=1)
        assert claimed == ["act-1", "act-2", "act-1:bell", "act-2:bell"]  # not cut at the limit
        assert await store.claim_unpublished("policy-a", NOW, NOW, Relay.LEASE, limit=1) == claimed  # its own again
    finally:
        await store.db.close()


async def test_an_outbox_made_before_claims_gains_the_columns_on_open(location) -> None:
    url, path = location
    old = await open_database(url, path, MIGRATIONS[:1])
    try:
        async with old.transaction() as s:
            at = old.dialect.pick(sqlite=NOW.isoformat(), postgres=NOW)
            await Outbox().stage(s, "cause-1", [("act-1", "act-1")], at)
    finally:
        await old.close()
    store = await opened(location)
    try:
        async with store.db.read() as r:
            assert {"claimed_by", "claimed_until"} <= set(await table_columns(r, "outbox"))
        sent: list[str] = []
        assert await relay(store, Publisher(sent), [NOW + timedelta(seconds=3)], "policy-a").flush() == 1
        assert sent == ["act-1"]
    finally:
        await store.db.close()


class WavePublisher(Publisher):
    """A bus that also publishes a whole wave at once (all or nothing, as NATS's publish_many)."""

    def __init__(self, sent: list[str], *, fail_on: str | None = None) -> None:
        super().__init__(sent, fail_on=fail_on)
        self.waves: list[list[str]] = []

    async def publish_many(self, messages: Sequence[str]) -> None:
        self.waves.append(list(messages))
        if self.fail_on in messages:
            raise ConnectionError("broker unreachable")
        self.sent += messages


def relay_of_waves(store: Outbox, publisher: WavePublisher, waves: Callable[[Sequence[str]], list[list[str]]]) -> Relay:
    return Relay(
        publisher.publish,
        store,
        lambda: NOW,
        id_of=lambda m: m,
        claimer="policy-a",
        waves=waves,
        publish_many=publisher.publish_many,
    )


async def test_a_bus_that_publishes_a_wave_at_once_gets_each_wave_whole_in_order(location) -> None:
    store = await opened(location)
    sent: list[str] = []
    publisher = WavePublisher(sent)
    try:
        wave_relay = relay_of_waves(store, publisher, doorbells_last)
        await store.stage("cause-1", ["act-1", "act-1:bell", "decided-1"], NOW)
        await wave_relay.send(["act-1", "act-1:bell", "decided-1"])
        assert publisher.waves == [["act-1", "decided-1"], ["act-1:bell"]]
        assert await store.unsent() == []
    finally:
        await store.db.close()


async def test_a_failed_wave_is_left_unmarked_whole_and_the_next_waits(location) -> None:
    store = await opened(location)
    sent: list[str] = []
    publisher = WavePublisher(sent, fail_on="act-2")
    try:
        wave_relay = relay_of_waves(store, publisher, lambda ms: [[m] for m in ms])
        await store.stage("cause-1", ["act-1", "act-2", "act-2:bell"], NOW)
        with pytest.raises(ConnectionError):
            await wave_relay.send(["act-1", "act-2", "act-2:bell"])
        assert publisher.waves == [["act-1"], ["act-2"]]  # the doorbell never went
        assert await store.unsent() == ["act-2", "act-2:bell"]  # the first wave is marked
    finally:
        await store.db.close()
