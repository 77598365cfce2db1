"""The outbox relay (the persistence kit's, in policy's order) on a real embedded NATS server and
both store backends: a decision's messages wait in the outbox until the flush's grace has passed,
then reach the bus once, actions before their doorbells; published rows are purged past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import ActionPending
from warden_policy.ports import Changes
from warden_policy.relay import Relay, _waves
from warden_testkit.bus import EmbeddedBroker

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DOORBELL = "sre.action.pending.v1"


def doorbell(action_id: str) -> Envelope:
    return envelope_for(DOORBELL, ActionPending(action_id=action_id), source="warden/policy", correlationid="inc-1")


async def test_policy_relay_flushes_stragglers_once_and_purges_them_later(broker: EmbeddedBroker, stores) -> None:
    store, _ = stores
    now = [NOW]
    bus = broker.bus("policy")
    await bus.start()
    try:
        relay = Relay(bus, store, lambda: now[0], claimer="policy-1")
        sent = [doorbell("act-1"), doorbell("act-2")]
        await store.apply(Changes(message_id="cause-1", outbox=list(sent)), NOW)

        now[0] = NOW + timedelta(seconds=1)  # its handler may still be publishing them
        assert await relay.flush() == 0
        now[0] = NOW + timedelta(seconds=3)
        assert await relay.flush() == 2
        ids = {e.id for e in sent}
        on_bus = await broker.wait_for(DOORBELL, lambda e: e.id in ids, count=2)
        assert sorted(e.id for e in on_bus) == sorted(ids)
        assert await store.unpublished(NOW + timedelta(days=1)) == []
        assert await relay.flush() == 0  # marked: never published twice

        assert [e.id for e in await store.outbox_of("cause-1") or []] == [e.id for e in sent]
        now[0] = NOW + timedelta(days=8)  # past retention: the published rows and the processed id go
        await relay.flush()
        assert await store.outbox_of("cause-1") is None
    finally:
        await bus.stop()


def test_policy_relay_sends_doorbells_after_everything_else() -> None:
    ring = doorbell("act-1")
    action = envelope_for("sre.test.v1", ActionPending(action_id="act-1"), source="warden/policy", correlationid="i")
    assert _waves([ring, action]) == [[action], [ring]]
    assert _waves([ring]) == [[ring]]
    assert _waves([]) == []


class WaveBus:
    def __init__(self) -> None:
        self.waves: list[list[str]] = []

    async def publish(self, envelope: Envelope) -> None:
        raise AssertionError("a bus that publishes a wave at once gets whole waves")

    async def publish_many(self, envelopes: list[Envelope]) -> None:
        self.waves.append([e.id for e in envelopes])


async def test_policy_relay_hands_a_bus_that_can_each_wave_whole(stores) -> None:
    store, _ = stores
    bus = WaveBus()
    ring = doorbell("act-1")
    action = envelope_for(
        "sre.action.approved.v1", ActionPending(action_id="a"), source="warden/policy", correlationid="i"
    )
    decided = envelope_for(
        "sre.policy.decided.v1", ActionPending(action_id="a"), source="warden/policy", correlationid="i"
    )
    await store.apply(Changes(message_id="cause-1", outbox=[decided, action, ring]), NOW)
    await Relay(bus, store, lambda: NOW, claimer="policy-1").send([decided, action, ring])
    assert bus.waves == [[decided.id, action.id], [ring.id]]
    assert await store.unpublished(NOW + timedelta(days=1)) == []
