"""Opt-in: the Service Bus adapter against a real namespace or the official emulator.

Set WARDEN_TEST_SERVICEBUS_CONNECTION (emulator connection string, UseDevelopmentEmulator=true)
or WARDEN_TEST_SERVICEBUS_NAMESPACE (<ns>.servicebus.windows.net, Entra credential from the
environment) to a namespace provisioned from `deploy/` (topics and subscriptions from the topology).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import pytest
from warden_bus.azure_servicebus.bus import ServiceBusBus
from warden_bus.azure_servicebus.connection import connect
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import Severity
from warden_testkit.contracts import incident_payload

CONNECTION = os.environ.get("WARDEN_TEST_SERVICEBUS_CONNECTION")
NAMESPACE = os.environ.get("WARDEN_TEST_SERVICEBUS_NAMESPACE")
pytestmark = pytest.mark.skipif(not (CONNECTION or NAMESPACE), reason="no Service Bus namespace or emulator configured")
TOPIC = "sre.incident.changed.v1"


def _bus(identity: str) -> ServiceBusBus:
    conn = connect(namespace=NAMESPACE, connection=CONNECTION)
    return ServiceBusBus(identity, conn.client, on_close=conn.close)


async def test_roundtrip_and_duplicate_detection_on_a_real_namespace() -> None:
    seen: list[str] = []
    env = envelope_for(
        TOPIC,
        incident_payload(
            f"live-{datetime.now(UTC).timestamp()}", title="live test", severity=Severity.SEV4, fingerprint="live"
        ),
        source="warden/triage",
        correlationid="live",
    )

    async def handle(received: Envelope) -> None:
        seen.append(received.id)

    consumer, producer = _bus("planner"), _bus("triage")
    consumer.subscribe(TOPIC, handle)
    await consumer.start()
    await producer.start()
    try:
        await producer.publish(env)
        await producer.publish(env)
        for _ in range(300):
            if env.id in seen:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        assert seen.count(env.id) == 1
    finally:
        await consumer.stop()
        await producer.stop()
