"""The NATS bus adapter against a real server: delivery, de-duplication, dead-lettering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from warden_bus.port import PoisonMessage
from warden_bus.testing import EmbeddedBroker
from warden_contracts.envelope import MAX_MESSAGE_BYTES, Envelope, envelope_for
from warden_contracts.events import IncidentChanged, IncidentState, Severity

TOPIC = "sre.incident.changed.v1"



async def test_delivers_once_per_envelope_id(broker: EmbeddedBroker) -> None:
    seen: list[str] = []
    consumer = broker.bus("planner")

    async def handle(env: Envelope) -> None:
        seen.append(env.id)

    consumer.subscribe(TOPIC, handle)
    producer = broker.bus("triage")
    await producer.start()
    await consumer.start()
    try:
        first = incident(1)
        await producer.publish(first)
        await producer.publish(first)  # same id: the broker's duplicate window drops it
        await producer.publish(incident(2))
        for _ in range(50):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        assert len(seen) == 2
        assert seen.count(first.id) == 1
    finally:
        await consumer.stop()
        await producer.stop()


async def test_bad_input_is_dead_lettered_and_next_message_processed(broker: EmbeddedBroker) -> None:
    seen: list[str] = []
    consumer = broker.bus("planner")

    async def handle(env: Envelope) -> None:
        if env.data["incident_id"] == "inc-poison":
            raise PoisonMessage("cannot plan for this incident")
        seen.append(env.data["incident_id"])

    consumer.subscribe(TOPIC, handle)
    await consumer.start()
    try:
        await broker.publish_raw(TOPIC, b"{not json")
        wrong_schema = incident(3).model_copy(update={"data": {"incident_id": 42}})
        await broker.publish_raw(TOPIC, wrong_schema.to_bytes())
        await broker.publish_raw(TOPIC, b'{"x":"' + b"a" * MAX_MESSAGE_BYTES + b'"}')
        poison = incident(4)
        poison.data["incident_id"] = "inc-poison"
        await broker.publish_raw(TOPIC, poison.to_bytes())
        await broker.publish_raw(TOPIC, incident(5).to_bytes())
        letters = await broker.wait_for("sre.deadletter.v1", count=4)
        reasons = sorted(e.data["reason"].split(":")[0] for e in letters)
        assert reasons == [
            "cannot plan for this incident",
            "malformed envelope",
            "oversize",
            "schema violation for sre.incident.changed.v1",
        ]
        assert all(e.data["service"] == "planner" for e in letters)
        for _ in range(30):
            if seen:
                break
            await asyncio.sleep(0.1)
        assert seen == ["inc-5"]
    finally:
        await consumer.stop()
