"""Publishing a committed outbox in the background: the handler returns before the broker answers,
a failure leaves the rows to the flush (nothing raised, nothing lost), at most `in_flight`
decisions publish at once, and `drain` waits for what is under way. On SQLite, with a publisher
at the port that the test opens and closes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ActionPending
from warden_policy.adapters.sqlite_store import SqliteStateStore
from warden_policy.ports import Changes
from warden_policy.relay import Relay

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def message(action_id: str) -> Envelope:
    return envelope_for(
        "sre.policy.decided.v1", ActionPending(action_id=action_id), source="warden/policy", correlationid="i"
    )


class GatedBroker:
    """Acknowledges a publish once the test opens the gate; `fail` refuses every publish."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.fail = False
        self.started: list[str] = []
        self.published: list[str] = []

    async def publish(self, envelope: Envelope) -> None:
        self.started.append(envelope.id)
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("broker gone")
        self.published.append(envelope.id)


async def committed(store: SqliteStateStore, cause: str, envelopes: list[Envelope]) -> list[Envelope]:
    await store.apply(Changes(message_id=cause, outbox=envelopes), NOW)
    return envelopes


async def test_the_handler_returns_before_the_broker_answers_and_drain_waits(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "policy.db")
    await store.open()
    try:
        broker = GatedBroker()
        relay = Relay(broker, store, lambda: NOW, claimer="policy-1")
        sent = await committed(store, "cause-1", [message("a"), message("b")])
        await relay.send_after_commit(sent)  # returns with both publishes still unanswered
        await asyncio.sleep(0.05)
        assert broker.started == [e.id for e in sent] and broker.published == []
        assert len(await store.unpublished(NOW)) == 2
        draining = asyncio.create_task(relay.drain())
        await asyncio.sleep(0.05)
        assert not draining.done()
        broker.gate.set()
        await draining
        assert broker.published == [e.id for e in sent]
        assert await store.unpublished(NOW) == []  # marked once acknowledged
    finally:
        await store.close()


async def test_a_failed_background_publish_leaves_its_rows_to_the_flush(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "policy.db")
    await store.open()
    try:
        broker = GatedBroker()
        broker.fail = True
        broker.gate.set()
        now = [NOW]
        relay = Relay(broker, store, lambda: now[0], claimer="policy-1")
        sent = await committed(store, "cause-1", [message("a")])
        await relay.send_after_commit(sent)
        await relay.drain()  # the failure is logged, not raised into the handler
        assert [e.id for e in await store.unpublished(NOW)] == [sent[0].id]
        broker.fail = False
        now[0] = NOW + timedelta(seconds=3)  # past the flush's grace
        assert await relay.flush() == 1
        assert broker.published == [sent[0].id] and await store.unpublished(now[0]) == []
    finally:
        await store.close()


async def test_at_most_in_flight_decisions_publish_at_once(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "policy.db")
    await store.open()
    try:
        broker = GatedBroker()
        relay = Relay(broker, store, lambda: NOW, claimer="policy-1", in_flight=1)
        first = await committed(store, "cause-1", [message("a")])
        second = await committed(store, "cause-2", [message("b")])
        await relay.send_after_commit(first)
        waiting = asyncio.create_task(relay.send_after_commit(second))
        await asyncio.sleep(0.05)
        assert not waiting.done() and broker.started == [first[0].id]  # back-pressure on the handler
        broker.gate.set()
        await waiting
        await relay.drain()
        assert broker.published == [first[0].id, second[0].id]
    finally:
        await store.close()
