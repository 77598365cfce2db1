"""Bus harnesses for the adapter suite: the embedded NATS server, and the Service Bus adapter
over the SDK-seam namespace double (see `warden_testkit.servicebus`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

import pytest
from warden_bus.azure_servicebus.bus import ServiceBusBus
from warden_bus.port import Bus
from warden_contracts.envelope import Envelope
from warden_testkit.memory_bus import MemoryBroker, wait_published
from warden_testkit.servicebus import ServiceBusDouble, Stored


class BusHarness(Protocol):
    def bus(self, identity: str) -> Bus: ...

    async def publish_raw(self, topic: str, raw: bytes, msg_id: str | None = None) -> None: ...

    async def wait_for(
        self, topic: str, predicate: Callable[[Envelope], bool] | None = None, *, timeout: float = 20.0, count: int = 1
    ) -> list[Envelope]: ...


class ServiceBusHarness:
    def __init__(self, namespace: ServiceBusDouble) -> None:
        self.namespace = namespace

    def bus(self, identity: str, **kwargs: Any) -> ServiceBusBus:
        return ServiceBusBus(identity, self.namespace.client(identity), max_wait_s=0.2, **kwargs)

    async def publish_raw(self, topic: str, raw: bytes, msg_id: str | None = None) -> None:
        self.namespace.enqueue(topic, Stored(0, msg_id or str(uuid.uuid4()), raw, {}))

    def published(self, topic: str) -> list[Envelope]:
        return [Envelope.from_bytes(m.body) for m in self.namespace.accepted[topic]]

    async def wait_for(
        self, topic: str, predicate: Callable[[Envelope], bool] | None = None, *, timeout: float = 20.0, count: int = 1
    ) -> list[Envelope]:
        return await wait_published(self.published, topic, predicate, timeout=timeout, count=count, poll_s=0.05)


@pytest.fixture
def servicebus() -> ServiceBusHarness:
    return ServiceBusHarness(ServiceBusDouble())


@pytest.fixture(params=["nats", "servicebus", "memory"])
def any_bus(request: pytest.FixtureRequest) -> BusHarness:
    """`memory`: the testkit's in-memory bus for component tests, held to the same behaviour."""
    if request.param == "nats":
        harness: BusHarness = request.getfixturevalue("broker")
        return harness
    if request.param == "memory":
        return MemoryBroker()
    return ServiceBusHarness(ServiceBusDouble())
