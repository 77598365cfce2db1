"""What the in-memory bus keeps of a durable broker beyond the adapter suite (which it also runs,
shared/bus/tests/component/azure/test_bus_adapter_suite.py): positions that outlive a bus, the
topology's producers, competing replicas."""

from __future__ import annotations

import asyncio

import pytest
from warden_contracts.envelope import Envelope
from warden_testkit.bus import eventually
from warden_testkit.contracts import incident
from warden_testkit.memory_bus import MemoryBroker

TOPIC = "sre.incident.changed.v1"


async def test_a_message_published_before_the_service_starts_waits_for_it() -> None:
    broker = MemoryBroker()
    producer, consumer = broker.bus("triage"), broker.bus("planner")
    seen: list[str] = []

    async def handle(env: Envelope) -> None:
        seen.append(env.data["incident_id"])

    consumer.subscribe(TOPIC, handle)
    await producer.publish(incident(1))
    await consumer.start()
    try:
        await eventually(lambda: seen == ["inc-1"], timeout=5, what="the earlier message delivered")
    finally:
        await consumer.stop()


async def test_a_message_unsettled_when_its_bus_stops_goes_to_the_next_start() -> None:
    broker = MemoryBroker()
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def stuck(env: Envelope) -> None:
        started.set()
        await release.wait()

    async def handle(env: Envelope) -> None:
        handled.append(env.id)

    first = broker.bus("planner")
    first.subscribe(TOPIC, stuck)
    await first.start()
    message = incident(2)
    await broker.bus("triage").publish(message)
    await asyncio.wait_for(started.wait(), 5)
    await first.stop()  # mid-handler: never acknowledged
    second = broker.bus("planner")
    second.subscribe(TOPIC, handle)
    await second.start()
    try:
        await eventually(lambda: handled == [message.id], timeout=5, what="redelivery to the restarted service")
    finally:
        await second.stop()


async def test_publishing_a_topic_the_identity_does_not_produce_is_refused() -> None:
    with pytest.raises(PermissionError):
        await MemoryBroker().bus("planner").publish(incident(3))


async def test_replicas_of_one_identity_share_its_durable() -> None:
    broker = MemoryBroker()
    by_replica: dict[int, list[str]] = {0: [], 1: []}
    replicas = [broker.bus("planner"), broker.bus("planner")]
    for n, replica in enumerate(replicas):

        async def handle(env: Envelope, n: int = n) -> None:
            by_replica[n].append(env.id)
            await asyncio.sleep(0)  # let the other replica take the next one

        replica.subscribe(TOPIC, handle)
        await replica.start()
    try:
        sent = [incident(i) for i in range(10)]
        for message in sent:
            await broker.bus("triage").publish(message)
        await eventually(lambda: sum(map(len, by_replica.values())) == len(sent), timeout=5, what="all handled")
        assert sorted(by_replica[0] + by_replica[1]) == sorted(m.id for m in sent)  # each exactly once
    finally:
        for replica in replicas:
            await replica.stop()
