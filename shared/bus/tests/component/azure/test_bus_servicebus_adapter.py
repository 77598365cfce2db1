"""What only the Service Bus adapter does: wire properties, native dead-letter sub-queue with the
reason, re-drive to one subscription, lock renewal for long handlers, scheduled messages, RBAC
refusals surfacing as errors, and Entra-only configuration."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import ServiceBusAuthorizationError
from warden_bus.azure_servicebus import deadletters, entities
from warden_bus.azure_servicebus.bus import ServiceBusBus
from warden_bus.port import PoisonMessage
from warden_contracts.envelope import Envelope
from warden_testkit.bus import until
from warden_testkit.contracts import incident
from warden_testkit.servicebus import ServiceBusDouble

TOPIC = "sre.incident.changed.v1"


def sb_bus(ns: ServiceBusDouble, identity: str, **kwargs: float) -> ServiceBusBus:
    return ServiceBusBus(identity, ns.client(identity), max_wait_s=0.2, **kwargs)


async def test_message_id_is_the_envelope_id_and_cloudevent_attributes_travel() -> None:
    ns = ServiceBusDouble()
    producer = sb_bus(ns, "triage")
    await producer.start()
    try:
        env = incident(1)
        await producer.publish(env)
    finally:
        await producer.stop()
    [stored] = ns.accepted[TOPIC]
    assert stored.message_id == env.id
    assert stored.correlation_id == env.correlationid
    assert stored.subject == TOPIC
    assert stored.content_type == entities.CONTENT_TYPE
    assert stored.properties["ce-type"] == TOPIC
    assert Envelope.from_bytes(stored.body) == env


async def test_poison_lands_in_the_dead_letter_subqueue_with_its_reason_and_redrives_to_one_subscription() -> None:
    ns = ServiceBusDouble()
    planner_seen: list[str] = []
    policy_seen: list[str] = []
    fixed = False

    async def planner(env: Envelope) -> None:
        if not fixed:
            raise PoisonMessage("catalog has no action for memory_pressure")
        planner_seen.append(env.id)

    async def policy(env: Envelope) -> None:
        policy_seen.append(env.id)

    planner_bus, policy_bus, producer = sb_bus(ns, "planner"), sb_bus(ns, "policy"), sb_bus(ns, "triage")
    planner_bus.subscribe(TOPIC, planner)
    policy_bus.subscribe(TOPIC, policy)
    for bus in (planner_bus, policy_bus, producer):
        await bus.start()
    try:
        env = incident(2)
        await producer.publish(env)
        assert await until(lambda: bool(ns.dead_letters[(TOPIC, "planner")].messages))
        operator = ns.client()  # the CLI runs as the namespace operator
        [letter] = await deadletters.peek(operator, TOPIC, "planner")
        assert letter.message_id == env.id
        assert letter.reason == "catalog has no action for memory_pressure"
        assert letter.description and "planner dead-lettered after 1 deliveries" in letter.description
        assert [
            e.data["original_id"] for e in map(Envelope.from_bytes, (m.body for m in ns.accepted["sre.deadletter.v1"]))
        ] == [env.id]

        fixed = True
        moved = await deadletters.redrive(operator, TOPIC, "planner", max_wait_s=0.2)
        assert [m.message_id for m in moved] == [env.id]
        assert await until(lambda: planner_seen == [env.id])
        assert ns.dead_letters[(TOPIC, "planner")].messages == []
        await asyncio.sleep(0.5)
        assert policy_seen == [env.id]  # the re-drive did not fan out to policy again
    finally:
        for bus in (planner_bus, policy_bus, producer):
            await bus.stop()


async def test_long_handler_keeps_its_lock_and_is_delivered_once() -> None:
    # 3 s: the SDK renewer wakes every second and renews inside the last three quarters of a lock.
    ns = ServiceBusDouble(lock_duration_s=3.0)
    calls: list[str] = []

    async def slow(env: Envelope) -> None:
        calls.append(env.id)
        await asyncio.sleep(6.5)  # over two lock durations: only renewal keeps the message ours

    consumer, other_replica, producer = sb_bus(ns, "planner"), sb_bus(ns, "planner"), sb_bus(ns, "triage")
    consumer.subscribe(TOPIC, slow)
    await consumer.start()
    await producer.start()
    try:
        await producer.publish(incident(3))
        assert await until(lambda: bool(calls))
        other_replica.subscribe(TOPIC, slow)
        await other_replica.start()
        assert await until(lambda: not ns.subscriptions[(TOPIC, "planner")].messages)
        assert calls == [calls[0]]
        assert ns.lock_renewals >= 2
    finally:
        for bus in (consumer, other_replica, producer):
            await bus.stop()


async def test_scheduled_messages_arrive_at_their_time_and_can_be_cancelled() -> None:
    ns = ServiceBusDouble()
    seen: list[tuple[str, datetime]] = []

    async def handle(env: Envelope) -> None:
        seen.append((env.data["incident_id"], datetime.now(UTC)))

    consumer, producer = sb_bus(ns, "planner"), sb_bus(ns, "triage")
    consumer.subscribe(TOPIC, handle)
    await consumer.start()
    await producer.start()
    try:
        at = datetime.now(UTC) + timedelta(seconds=1)
        await producer.schedule(incident("later"), at)
        cancelled = await producer.schedule(incident("never"), at)
        await producer.cancel_scheduled(TOPIC, cancelled)
        assert await until(lambda: bool(seen))
        assert seen[0][0] == "inc-later" and seen[0][1] >= at - timedelta(milliseconds=50)
        await asyncio.sleep(1.0)
        assert [name for name, _ in seen] == ["inc-later"]
    finally:
        await consumer.stop()
        await producer.stop()


async def test_publishing_a_topic_the_service_does_not_produce_is_refused() -> None:
    ns = ServiceBusDouble()
    planner = sb_bus(ns, "planner")
    with pytest.raises(PermissionError):
        await planner.publish(incident(4))
    # The namespace refuses too, whatever the adapter checks: RBAC comes from the same topology.
    with pytest.raises(ServiceBusAuthorizationError):
        ns.client("planner").get_topic_sender(topic_name=TOPIC)
    with pytest.raises(ServiceBusAuthorizationError):
        ns.client("executor").get_subscription_receiver(
            topic_name="sre.action.approved.v1", subscription_name="executor"
        )


async def test_a_refused_receiver_reports_unhealthy_instead_of_crashing() -> None:
    ns = ServiceBusDouble()

    class Revoked:
        """The namespace revoked this identity's Data Receiver role after start-up."""

        def __init__(self, inner: ServiceBusClient) -> None:
            self.inner = inner

        def get_topic_sender(self, **kwargs: str) -> object:
            return self.inner.get_topic_sender(**kwargs)

        def get_subscription_receiver(self, **kwargs: str) -> object:
            receiver = self.inner.get_subscription_receiver(**kwargs)

            async def refused(**_: object) -> list[object]:
                raise ServiceBusAuthorizationError(message="role assignment removed")

            receiver.receive_messages = refused  # type: ignore[method-assign]
            return receiver

    async def handle(env: Envelope) -> None:
        return None

    bus = ServiceBusBus("planner", Revoked(ns.client("planner")), max_wait_s=0.2)  # type: ignore[arg-type]
    bus.subscribe(TOPIC, handle)
    await bus.start()
    try:
        assert await until(lambda: not bus.healthy)
    finally:
        await bus.stop()


async def test_the_consumer_span_joins_the_producer_trace_through_application_properties() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind
    from warden_bus import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    ns = ServiceBusDouble()
    handled: list[str] = []

    async def handle(env: Envelope) -> None:
        handled.append(env.id)

    consumer, producer = sb_bus(ns, "planner"), sb_bus(ns, "triage")
    consumer.subscribe(TOPIC, handle)
    await consumer.start()
    await producer.start()
    try:
        await producer.publish(incident(11))
        assert await until(lambda: bool(handled))
        assert "traceparent" in ns.accepted[TOPIC][0].properties
        spans = exporter.get_finished_spans()
        assert await until(lambda: any(s.kind is SpanKind.CONSUMER for s in exporter.get_finished_spans()))
        spans = exporter.get_finished_spans()
        producer_span = next(s for s in spans if s.kind is SpanKind.PRODUCER)
        consumer_span = next(s for s in spans if s.kind is SpanKind.CONSUMER)
        assert consumer_span.context.trace_id == producer_span.context.trace_id
    finally:
        await consumer.stop()
        await producer.stop()
        tracing.use_provider(None)


async def test_a_reader_that_may_not_publish_dead_letters_still_ends_in_the_broker_dead_letter_queue() -> None:
    # A SIEM reader consumes the audit stream but produces no dead letters in the topology.
    ns = ServiceBusDouble(max_delivery_count=3)
    seen: list[str] = []

    async def handle(env: Envelope) -> None:
        seen.append(env.id)

    reader = sb_bus(ns, "siem")
    reader.subscribe("sre.audit.recorded.v1", handle)
    await reader.start()
    try:
        ns.enqueue("sre.audit.recorded.v1", ns_stored_raw(b"{not json"))
        key = ("sre.audit.recorded.v1", "siem")
        assert await until(lambda: bool(ns.dead_letters[key].messages))
        [letter] = ns.dead_letters[key].messages
        assert letter.dead_letter_reason == "MaxDeliveryCountExceeded"
        assert reader.healthy and ns.accepted["sre.deadletter.v1"] == [] and seen == []
    finally:
        await reader.stop()


def ns_stored_raw(body: bytes):  # type: ignore[no-untyped-def]
    from warden_testkit.servicebus import Stored

    return Stored(0, "raw-1", body, {})
