"""An in-memory broker for component tests that exercise a service's handlers over the bus port.

For tests about what a service does with messages, not about the broker: no server, no sockets,
no polling. What the real adapters guarantee and handlers rely on is kept, from the same sources:

- topics, producers and consumers come from the topology: publishing a topic the identity does
  not produce, or subscribing to one it does not consume, is refused (`PermissionError`);
- one durable per consuming identity, made up front as provisioning does: every consumer gets
  its own copy, messages published before a service starts wait for it, replicas of one identity
  compete, and what was handed to a handler but not settled when its bus stopped is delivered
  again on the next start;
- de-duplication on the envelope id (the broker's message id), within the broker's lifetime;
- settlement by `warden_bus.inbound.settle`, the policy the NATS and Service Bus adapters share:
  ack on return, `RetryLater` after its delay, other errors with back-off, dead letters (built by
  `dead_letter_envelope`) on the dead-letter topic after `max_deliveries` or at once for poison.

Not here (use the embedded NATS broker, `warden_testkit.bus`): per-user credentials and the
broker's own refusals, elevation, JetStream limits and redelivery after a process is killed.
The adapter suite in shared/bus/tests runs the same behavioural tests against this bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from warden_bus.inbound import Verdict, dead_letter_envelope, settle
from warden_bus.port import Handler, SubscriptionOptions
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope


@dataclass
class _Delivery:
    raw: bytes
    position: str
    deliveries: int = 0


@dataclass
class _Durable:
    """One consuming identity's position on one topic: what waits, and who is waiting for it."""

    pending: deque[_Delivery] = field(default_factory=deque)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def put(self, delivery: _Delivery) -> None:
        async with self.arrived:
            self.pending.append(delivery)
            self.arrived.notify()

    async def take(self) -> _Delivery:
        async with self.arrived:
            await self.arrived.wait_for(lambda: bool(self.pending))
            return self.pending.popleft()


class MemoryBroker:
    """The harness a test holds: buses per identity, raw publishes and reads, like `EmbeddedBroker`."""

    def __init__(self) -> None:
        self._log: dict[str, list[bytes]] = {t.name: [] for t in topo.TOPICS}
        self._seen_ids: dict[str, set[str]] = {t.name: set() for t in topo.TOPICS}
        self._durables: dict[tuple[str, str], _Durable] = {
            (t.name, identity): _Durable() for t in topo.TOPICS for identity in t.consumers
        }

    def bus(self, identity: str) -> MemoryBus:
        return MemoryBus(identity, self)

    async def publish_raw(self, topic: str, raw: bytes, msg_id: str | None = None, identity: str = "admin") -> None:
        """Bytes as they are, valid or not, as `identity` (admin: anything, like `EmbeddedBroker`)."""
        t = topo.topic(topic)
        if identity != "admin" and identity not in t.producers:
            raise PermissionError(f"{identity} does not produce {topic} in the topology")
        await self._append(t, raw, msg_id or str(uuid.uuid4()))

    def published(self, topic: str) -> list[Envelope]:
        return [Envelope.from_bytes(raw) for raw in self._log[topo.topic(topic).name]]

    async def read_all(self, topic: str, *, wait: float = 0.0) -> list[Envelope]:
        if wait:
            await asyncio.sleep(wait)
        return self.published(topic)

    async def wait_for(
        self, topic: str, predicate: Callable[[Envelope], bool] | None = None, *, timeout: float = 20.0, count: int = 1
    ) -> list[Envelope]:
        return await wait_published(self.published, topic, predicate, timeout=timeout, count=count, poll_s=0.01)

    def durable(self, topic: topo.Topic, identity: str) -> _Durable:
        return self._durables[(topic.name, identity)]

    async def _append(self, topic: topo.Topic, raw: bytes, msg_id: str) -> None:
        if msg_id in self._seen_ids[topic.name]:
            return  # the broker's duplicate detection: acknowledged, not stored again
        self._seen_ids[topic.name].add(msg_id)
        self._log[topic.name].append(raw)
        position = f"{topic.stream}:{len(self._log[topic.name])}"
        for identity in topic.consumers:
            await self.durable(topic, identity).put(_Delivery(raw, position))


class MemoryBus:
    """The bus port (`warden_bus.port.Bus`) on a `MemoryBroker`, as one identity."""

    def __init__(self, identity: str, broker: MemoryBroker) -> None:
        self.identity = identity
        self._broker = broker
        self._subscriptions: list[tuple[topo.Topic, Handler, SubscriptionOptions]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    @property
    def healthy(self) -> bool:
        return self._running

    async def publish(self, envelope: Envelope) -> None:
        topic = topo.topic(envelope.type)
        if self.identity not in topic.producers:
            raise PermissionError(f"{self.identity} does not produce {topic.name} in the topology")
        await self._broker._append(topic, envelope.to_bytes(), envelope.id)

    async def publish_many(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await self.publish(envelope)

    def subscribe(self, topic: str, handler: Handler, options: SubscriptionOptions | None = None) -> None:
        t = topo.topic(topic)
        if self.identity not in t.consumers:
            raise PermissionError(f"{self.identity} does not consume {topic} in the topology")
        self._subscriptions.append((t, handler, options or SubscriptionOptions()))

    async def start(self) -> None:
        self._running = True
        self._tasks = [asyncio.create_task(self._consume(*s)) for s in self._subscriptions]

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _consume(self, topic: topo.Topic, handler: Handler, options: SubscriptionOptions) -> None:
        durable = self._broker.durable(topic, self.identity)
        while True:
            delivery = await durable.take()
            try:
                await self._settle(topic, handler, options, durable, delivery)
            except asyncio.CancelledError:
                # Stopped mid-handler: unsettled, so it is delivered again (as after an ack wait).
                durable.pending.appendleft(delivery)
                raise

    async def _settle(
        self, topic: topo.Topic, handler: Handler, options: SubscriptionOptions, durable: _Durable, delivery: _Delivery
    ) -> None:
        delivery.deliveries += 1
        settlement = await settle(topic, delivery.raw, delivery.deliveries, handler, options, service=self.identity)
        if settlement.verdict is Verdict.RETRY:
            asyncio.get_running_loop().call_later(
                settlement.delay_s, lambda: asyncio.ensure_future(durable.put(delivery))
            )
        elif settlement.verdict is Verdict.DEAD_LETTER:
            letter = dead_letter_envelope(
                self.identity, topic, delivery.raw, settlement, delivery.deliveries, delivery.position
            )
            await self.publish(letter)


async def wait_published(
    published: Callable[[str], list[Envelope]],
    topic: str,
    predicate: Callable[[Envelope], bool] | None = None,
    *,
    timeout: float,
    count: int,
    poll_s: float,
) -> list[Envelope]:
    """`wait_for` of a broker double that keeps what was published in memory: what matches once
    there are `count` of them, or what there is at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = [e for e in published(topic) if predicate is None or predicate(e)]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(poll_s)
