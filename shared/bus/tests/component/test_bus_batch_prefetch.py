"""The batch consumer fetches the next pull batch while a handler is still on the current one,
and acks nothing of either before its own `handle_batch` returned; batches keep stream order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from warden_bus.nats_bus import NatsBus
from warden_bus.port import SubscriptionOptions
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import AlertReceived
from warden_testkit.bus import EmbeddedBroker

ALERT = "sre.alert.received.v1"
BATCH = 5


def alert(n: int) -> Envelope:
    payload = AlertReceived(
        source_kind="sandbox",
        alert_id=f"a-{n}",
        rule="memory",
        status="Fired",
        resource_id="/r/checkout",
        fired_at=datetime.now(UTC),
    )
    return envelope_for(ALERT, payload, source="test/ingest", correlationid=f"alert:a-{n}", id=f"alert-{n}")


class HeldBatches:
    """Takes whole batches; the first waits until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        raise AssertionError("every batch succeeds: nothing is settled one by one")

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        if not self.batches:
            await self.release.wait()
        self.batches.append([e.id for e in envelopes])


@pytest.fixture
async def buses(broker: EmbeddedBroker) -> AsyncIterator[dict[str, NatsBus]]:
    made = {name: broker.bus(name) for name in ("ingest", "triage")}
    yield made
    for bus in made.values():
        await bus.stop()


async def test_the_next_batch_is_fetched_ahead_and_acked_only_after_its_own_turn(
    broker: EmbeddedBroker, buses: dict[str, NatsBus]
) -> None:
    handler = HeldBatches()
    buses["triage"].subscribe(ALERT, handler, SubscriptionOptions(batch_size=BATCH))
    await buses["ingest"].start()
    await buses["ingest"].publish_many([alert(n) for n in range(2 * BATCH)])
    await buses["triage"].start()
    admin = await broker.connect("admin")
    js = admin.jetstream()
    stream = topo.topic(ALERT).stream
    try:

        async def reached(want: tuple[int, int]) -> tuple[int, int]:
            """(unacked deliveries, acked up to) of the durable, once it is `want` or after 10 s."""
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while True:
                info = await js.consumer_info(stream, "triage")
                seen = (info.num_ack_pending, info.ack_floor.stream_seq)
                if seen == want or loop.time() > deadline:
                    return seen
                await asyncio.sleep(0.05)

        # The first batch is held in its handler; the second is delivered already, and unacked.
        assert await reached((2 * BATCH, 0)) == (2 * BATCH, 0)
        assert handler.batches == []
        handler.release.set()
        assert await reached((0, 2 * BATCH)) == (0, 2 * BATCH)
        assert handler.batches == [
            [f"alert-{n}" for n in range(BATCH)],
            [f"alert-{n}" for n in range(BATCH, 2 * BATCH)],
        ]
    finally:
        await admin.close()
