"""The bus port over Azure Service Bus topics and subscriptions (`azure.servicebus.aio`).

Each service reads only its own subscription (named after it) in peek-lock mode and sends only to
the topics it produces; the namespace's RBAC, generated from the same topology, enforces both.
`MessageId` is the envelope id, so the topic's duplicate detection drops republished follow-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusReceiveMode
from azure.servicebus.aio import AutoLockRenewer, ServiceBusClient, ServiceBusReceiver, ServiceBusSender
from azure.servicebus.exceptions import ServiceBusError
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope

from warden_bus import tracing
from warden_bus.azure_servicebus import entities
from warden_bus.azure_servicebus.settlement import settle_received
from warden_bus.inbound import backoff_seconds
from warden_bus.port import Handler, SubscriptionOptions

log = logging.getLogger("warden.bus")


def to_message(identity: str, envelope: Envelope, trace_headers: dict[str, str] | None = None) -> ServiceBusMessage:
    # Trace context travels as application properties, the Service Bus equivalent of NATS headers.
    properties: dict[str | bytes, Any] = {"ce-type": envelope.type, "ce-source": envelope.source}
    properties.update(trace_headers or {})
    if envelope.type == topo.DEADLETTER_TOPIC:
        properties[entities.DEADLETTER_SERVICE_PROPERTY] = identity
    return ServiceBusMessage(
        envelope.to_bytes(),
        message_id=envelope.id,
        correlation_id=envelope.correlationid,
        subject=envelope.type,
        content_type=entities.CONTENT_TYPE,
        application_properties=properties,
    )


@dataclass
class _Subscription:
    topic: topo.Topic
    handler: Handler
    options: SubscriptionOptions
    failing: bool = False


class ServiceBusBus:
    def __init__(
        self,
        identity: str,
        client: ServiceBusClient,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        max_wait_s: float = 1.0,
        max_lock_renewal_s: float = 300.0,
    ) -> None:
        self.identity = identity
        self._client = client
        self._on_close = on_close
        self._max_wait_s = max_wait_s
        self._max_lock_renewal_s = max_lock_renewal_s
        self._subscriptions: list[_Subscription] = []
        self._senders: dict[str, ServiceBusSender] = {}
        self._receivers: list[ServiceBusReceiver] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._delayed: set[asyncio.Task[None]] = set()
        self._renewer: AutoLockRenewer | None = None
        self._running = False

    @property
    def healthy(self) -> bool:
        return self._running and not any(s.failing for s in self._subscriptions)

    def _sender(self, topic: str) -> ServiceBusSender:
        if topic not in self._senders:
            self._senders[topic] = self._client.get_topic_sender(topic_name=topic)
        return self._senders[topic]

    def _check_producer(self, topic: topo.Topic) -> None:
        if self.identity not in topic.producers:
            raise PermissionError(f"{self.identity} does not produce {topic.name} in the topology")

    async def publish(self, envelope: Envelope) -> None:
        topic = topo.topic(envelope.type)
        self._check_producer(topic)
        # The SDK retries transient failures itself (exponential, 3 tries) before raising.
        with tracing.publishing(envelope) as trace_headers:
            await self._sender(topic.name).send_messages(to_message(self.identity, envelope, trace_headers))

    async def schedule(self, envelope: Envelope, at: datetime) -> int:
        """Enqueue at `at` (a deadline or a delayed follow-up); returns the sequence number to cancel."""
        topic = topo.topic(envelope.type)
        self._check_producer(topic)
        numbers = await self._sender(topic.name).schedule_messages(to_message(self.identity, envelope), at)
        return numbers[0]

    async def cancel_scheduled(self, topic: str, sequence_number: int) -> None:
        self._check_producer(topo.topic(topic))
        await self._sender(topic).cancel_scheduled_messages(sequence_number)

    def subscribe(self, topic: str, handler: Handler, options: SubscriptionOptions | None = None) -> None:
        t = topo.topic(topic)
        if self.identity not in t.consumers:
            raise PermissionError(f"{self.identity} does not consume {topic} in the topology")
        if self._running:
            raise RuntimeError("subscribe before start")
        self._subscriptions.append(_Subscription(t, handler, options or SubscriptionOptions()))

    async def start(self) -> None:
        self._renewer = AutoLockRenewer(max_lock_renewal_duration=self._max_lock_renewal_s)
        self._running = True
        for sub in self._subscriptions:
            receiver = self._client.get_subscription_receiver(
                topic_name=sub.topic.name,
                subscription_name=entities.subscription_name(self.identity),
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
            )
            self._receivers.append(receiver)
            self._tasks.append(asyncio.create_task(self._consume(sub, receiver)))

    async def _consume(self, sub: _Subscription, receiver: ServiceBusReceiver) -> None:
        failures = 0
        while True:
            try:
                batch = await receiver.receive_messages(
                    max_message_count=sub.options.batch_size, max_wait_time=self._max_wait_s
                )
            except ServiceBusError as err:
                # Auth, network or a missing entity: stay alive, report unhealthy, back off.
                failures += 1
                sub.failing = True
                log.warning("receive from %s/%s failed: %s", sub.topic.name, self.identity, err)
                await asyncio.sleep(backoff_seconds(failures))
                continue
            failures, sub.failing = 0, False
            for msg in batch:
                await self._handle(sub, receiver, msg)

    async def _handle(self, sub: _Subscription, receiver: ServiceBusReceiver, msg: ServiceBusReceivedMessage) -> None:
        assert self._renewer is not None
        # Long handlers (an executor action, an LLM investigation) keep the lock instead of
        # letting the broker hand the message to another replica mid-flight.
        self._renewer.register(receiver, msg, max_lock_renewal_duration=self._max_lock_renewal_s)
        try:
            await settle_received(
                self.identity, sub.topic, receiver, msg, sub.handler, sub.options, self.publish, self._abandon_later
            )
        except ServiceBusError as err:
            # Lock lost or connection dropped while settling: the broker redelivers, the handler
            # is idempotent on the envelope id, and the next message goes on.
            log.warning("settling %s on %s failed: %s", msg.message_id, sub.topic.name, err)
        except Exception:
            # E.g. the dead letter could not be published. Given back (the lock renewer would
            # otherwise hold it for minutes), it is redelivered, and the broker's maxDeliveryCount
            # dead-letters it in the end; the subscription itself keeps consuming.
            log.exception("settling %s on %s failed", msg.message_id, sub.topic.name)
            with contextlib.suppress(ServiceBusError):
                await receiver.abandon_message(msg)

    def _abandon_later(self, receiver: ServiceBusReceiver, msg: ServiceBusReceivedMessage, delay_s: float) -> None:
        delay = min(delay_s, self._max_lock_renewal_s / 2)
        task = asyncio.create_task(self._abandon_after(receiver, msg, delay))
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def _abandon_after(self, receiver: ServiceBusReceiver, msg: ServiceBusReceivedMessage, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            # On shutdown too: give the message back now rather than wait for the lock to lapse.
            with contextlib.suppress(ServiceBusError):
                await receiver.abandon_message(msg)

    async def stop(self) -> None:
        self._running = False
        for task in (*self._tasks, *self._delayed):
            task.cancel()
        for task in (*self._tasks, *list(self._delayed)):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._renewer is not None:
            await self._renewer.close()
        for closable in (*self._receivers, *self._senders.values()):
            with contextlib.suppress(Exception):
                await closable.close()
        self._receivers.clear()
        self._senders.clear()
        if self._on_close is not None:
            await self._on_close()
