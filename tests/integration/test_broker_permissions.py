"""Broker-enforced identities, asserted against the real server: each refusal is observed, not assumed.

A refused JetStream call surfaces as a client timeout; the reason arrives through the error
callback, so every test checks that callback for the permissions violation.
"""

from __future__ import annotations

import asyncio

import nats
import pytest
from warden_contracts import topology as topo
from warden_testkit.bus import EmbeddedBroker

APPROVED = topo.topic("sre.action.approved.v1")


async def _violation_seen(errors: list[str]) -> bool:
    for _ in range(20):
        if any("permissions violation" in e.lower() for e in errors):
            return True
        await asyncio.sleep(0.05)
    return False


async def _try_publish(broker: EmbeddedBroker, identity: str, subject: str) -> list[str]:
    errors: list[str] = []
    nc = await broker.connect(identity, errors)
    try:
        with pytest.raises((TimeoutError, nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError)):
            await nc.jetstream().publish(subject, b"{}", timeout=0.5)
        assert await _violation_seen(errors), errors
    finally:
        await nc.close()
    return errors


async def _try_consume(broker: EmbeddedBroker, identity: str, stream: str, durable: str) -> list[str]:
    errors: list[str] = []
    nc = await broker.connect(identity, errors)
    try:
        js = nc.jetstream()
        with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
            sub = await js.pull_subscribe_bind(
                durable=durable, stream=stream, inbox_prefix=f"_INBOX_{identity}.".encode()
            )
            await sub.fetch(1, timeout=0.5)
        assert await _violation_seen(errors), errors
    finally:
        await nc.close()
    return errors


async def test_planner_cannot_publish_approved_actions(broker: EmbeddedBroker) -> None:
    await _try_publish(broker, "planner", APPROVED.name)


@pytest.mark.parametrize("identity", [i for i in topo.IDENTITIES if i != "policy"])
async def test_only_policy_may_publish_approved_actions(broker: EmbeddedBroker, identity: str) -> None:
    await _try_publish(broker, identity, APPROVED.name)


@pytest.mark.parametrize("identity", ["policy", "planner", "triage", "audit", "executor"])
async def test_no_standing_identity_can_consume_approved_actions(broker: EmbeddedBroker, identity: str) -> None:
    await broker.publish_raw(APPROVED.name, b"{}", msg_id=f"probe-{identity}")
    await _try_consume(broker, identity, APPROVED.stream, "executor")


async def test_a_service_cannot_read_another_services_consumer(broker: EmbeddedBroker) -> None:
    alerts = topo.topic("sre.alert.received.v1")
    await _try_consume(broker, "planner", alerts.stream, "triage")
    await _try_consume(broker, "audit", alerts.stream, "triage")


async def test_a_service_cannot_read_another_services_inbox(broker: EmbeddedBroker) -> None:
    errors: list[str] = []
    nc = await broker.connect("planner", errors)
    try:
        await nc.subscribe("_INBOX_policy.>")
        await nc.flush()
        assert await _violation_seen(errors), errors
    finally:
        await nc.close()


async def test_core_subscribe_to_a_topic_is_refused(broker: EmbeddedBroker) -> None:
    errors: list[str] = []
    nc = await broker.connect("audit", errors)
    try:
        await nc.subscribe(APPROVED.name)
        await nc.flush()
        assert await _violation_seen(errors), errors
    finally:
        await nc.close()


async def test_each_producer_can_publish_its_own_topics(broker: EmbeddedBroker) -> None:
    for t in topo.TOPICS:
        for identity in t.producers:
            subject = topo.deadletter_subject(identity) if t.name == topo.DEADLETTER_TOPIC else t.name
            nc = await broker.connect(identity)
            try:
                ack = await nc.jetstream().publish(subject, b"{}", timeout=2)
                assert ack.stream == t.stream
            finally:
                await nc.close()


async def test_services_cannot_create_streams_or_consumers(broker: EmbeddedBroker) -> None:
    errors: list[str] = []
    nc = await broker.connect("triage", errors)
    try:
        with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
            await nats.js.JetStreamManager(nc, timeout=0.5).add_stream(name="ROGUE", subjects=["rogue.>"])
        assert await _violation_seen(errors)
    finally:
        await nc.close()
