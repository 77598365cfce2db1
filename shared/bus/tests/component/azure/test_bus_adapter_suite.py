"""One behavioural suite for every bus adapter: the same tests run against the NATS adapter on a
real embedded server, the Service Bus adapter through the SDK and the testkit's in-memory bus for
component tests (fixture `any_bus`)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from warden_bus.port import Bus, PoisonMessage, RetryLater, SubscriptionOptions
from warden_contracts.envelope import MAX_MESSAGE_BYTES, Envelope
from warden_testkit.bus import until
from warden_testkit.contracts import incident

TOPIC = "sre.incident.changed.v1"


async def running(*buses: Bus) -> None:
    for bus in buses:
        await bus.start()


async def stopped(*buses: Bus) -> None:
    for bus in buses:
        await bus.stop()


async def test_delivers_once_per_envelope_id(any_bus) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    consumer, producer = any_bus.bus("planner"), any_bus.bus("triage")

    async def handle(env: Envelope) -> None:
        seen.append(env.id)

    consumer.subscribe(TOPIC, handle)
    await running(producer, consumer)
    try:
        first, second = incident(1), incident(2)
        await producer.publish(first)
        await producer.publish(first)  # same id: the broker's duplicate detection drops it
        await producer.publish(second)
        assert await until(lambda: len(seen) >= 2)
        # A third delivery would be the duplicate; give it the time a redelivery would need.
        await asyncio.sleep(0.5)
        assert sorted(seen) == sorted([first.id, second.id])
        assert consumer.healthy
    finally:
        await stopped(consumer, producer)


async def test_every_consuming_service_gets_its_own_copy(any_bus) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, list[str]] = {"planner": [], "policy": []}
    buses = {name: any_bus.bus(name) for name in seen}
    for name, bus in buses.items():

        async def handle(env: Envelope, name: str = name) -> None:
            seen[name].append(env.data["incident_id"])

        bus.subscribe(TOPIC, handle)
    producer = any_bus.bus("triage")
    await running(producer, *buses.values())
    try:
        await producer.publish(incident(7))
        assert await until(lambda: all(seen.values()))
        assert seen == {"planner": ["inc-7"], "policy": ["inc-7"]}
    finally:
        await stopped(producer, *buses.values())


async def test_bad_input_is_dead_lettered_and_next_message_processed(any_bus) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    consumer = any_bus.bus("planner")

    async def handle(env: Envelope) -> None:
        if env.data["incident_id"] == "inc-poison":
            raise PoisonMessage("cannot plan for this incident")
        seen.append(env.data["incident_id"])

    consumer.subscribe(TOPIC, handle)
    await consumer.start()
    try:
        await any_bus.publish_raw(TOPIC, b"{not json")
        wrong_schema = incident(3).model_copy(update={"data": {"incident_id": 42}})
        await any_bus.publish_raw(TOPIC, wrong_schema.to_bytes())
        await any_bus.publish_raw(TOPIC, b'{"x":"' + b"a" * MAX_MESSAGE_BYTES + b'"}')
        await any_bus.publish_raw(TOPIC, incident("poison").to_bytes())
        await any_bus.publish_raw(TOPIC, incident(5).to_bytes())
        letters = await any_bus.wait_for("sre.deadletter.v1", count=4)
        reasons = sorted(e.data["reason"].split(":")[0] for e in letters)
        assert reasons == [
            "cannot plan for this incident",
            "malformed envelope",
            "oversize",
            "schema violation for sre.incident.changed.v1",
        ]
        assert all(e.data["service"] == "planner" for e in letters)
        assert await until(lambda: bool(seen))
        assert seen == ["inc-5"]
    finally:
        await consumer.stop()


async def test_retry_later_redelivers_after_the_delay(any_bus) -> None:  # type: ignore[no-untyped-def]
    attempts: list[datetime] = []
    consumer, producer = any_bus.bus("planner"), any_bus.bus("triage")

    async def handle(env: Envelope) -> None:
        attempts.append(datetime.now(UTC))
        if len(attempts) < 3:
            raise RetryLater("dependency warming up", timedelta(milliseconds=300))

    consumer.subscribe(TOPIC, handle, SubscriptionOptions(max_deliveries=5))
    await running(producer, consumer)
    try:
        await producer.publish(incident(8))
        assert await until(lambda: len(attempts) >= 3)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts)]
        assert all(gap >= 0.25 for gap in gaps), gaps
        await asyncio.sleep(0.5)
        assert len(attempts) == 3  # acknowledged on the third try: no fourth delivery
        assert await any_bus.wait_for("sre.deadletter.v1", timeout=0.1) == []
    finally:
        await stopped(consumer, producer)


async def test_failing_handler_is_dead_lettered_after_max_deliveries(any_bus) -> None:  # type: ignore[no-untyped-def]
    attempts: list[str] = []
    consumer, producer = any_bus.bus("planner"), any_bus.bus("triage")

    async def handle(env: Envelope) -> None:
        attempts.append(env.id)
        raise RuntimeError("planner crashed")

    consumer.subscribe(TOPIC, handle, SubscriptionOptions(max_deliveries=2))
    await running(producer, consumer)
    try:
        message = incident(9)
        await producer.publish(message)
        letters = await any_bus.wait_for("sre.deadletter.v1", count=1)
        assert len(letters) == 1
        assert letters[0].data["reason"].startswith("handler failed 2 times")
        assert letters[0].data["original_id"] == message.id
        assert letters[0].causationid == message.id
        assert attempts == [message.id, message.id]
    finally:
        await stopped(consumer, producer)


def test_subscribing_outside_the_topology_is_refused(any_bus) -> None:  # type: ignore[no-untyped-def]
    async def handle(env: Envelope) -> None:
        return None

    with pytest.raises(PermissionError):
        any_bus.bus("planner").subscribe("sre.action.approved.v1", handle)
