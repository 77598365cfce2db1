"""A Service Bus namespace double at the SDK client seam, for tests only.

It stands in for `azure.servicebus.aio.ServiceBusClient` and its senders and receivers (there is
no AMQP-level double or emulator on this machine); everything the adapter touches above that seam
is the real SDK: `ServiceBusMessage` in, real `ServiceBusReceivedMessage` objects out (built from
AMQP sections the way the SDK's transport builds them), real `AutoLockRenewer`, real exceptions.
It keeps the broker semantics the adapter relies on: topic fan-out to subscriptions with the
re-drive filter, duplicate detection on `MessageId`, peek-lock with lock expiry and delivery
counts, abandon, dead-letter sub-queues with reason, scheduled messages, and RBAC derived from
the topology (send only to produced topics, receive only from one's own subscription).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, cast

from azure.servicebus import ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import MessagingEntityNotFoundError
from warden_bus.azure_servicebus import entities
from warden_contracts import topology as topo

STANDARD_MAX_BYTES = 256 * 1024


@dataclass
class Stored:
    sequence_number: int
    message_id: str
    body: bytes
    properties: dict[str, Any]
    correlation_id: str | None = None
    subject: str | None = None
    content_type: str | None = None
    visible_at: float = 0.0
    delivery_count: int = 0
    locked_until: float = 0.0
    lock_token: uuid.UUID | None = None
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None


@dataclass
class Entity:
    messages: list[Stored] = field(default_factory=list)


class ServiceBusDouble:
    def __init__(
        self,
        *,
        lock_duration_s: float = entities.LOCK_DURATION.total_seconds(),
        max_delivery_count: int = entities.MAX_DELIVERY_COUNT,
        duplicate_window_s: float = entities.DUPLICATE_WINDOW.total_seconds(),
    ) -> None:
        self.lock_duration_s = lock_duration_s
        self.max_delivery_count = max_delivery_count
        self.duplicate_window_s = duplicate_window_s
        self.subscriptions: dict[tuple[str, str], Entity] = {}
        self.dead_letters: dict[tuple[str, str], Entity] = {}
        self.accepted: dict[str, list[Stored]] = {t.name: [] for t in topo.TOPICS}
        self.lock_renewals = 0
        self._seen: dict[tuple[str, str], float] = {}
        self._sequence = 0
        for sub in entities.all_subscriptions():
            self.subscriptions[(sub.topic, sub.name)] = Entity()
            self.dead_letters[(sub.topic, sub.name)] = Entity()

    def client(self, identity: str | None = None, *, elevated: bool = False) -> ServiceBusClient:
        """A client acting as `identity` (None: namespace owner, as an operator running the CLI)."""
        from warden_testkit.servicebus_clients import DoubleClient  # it imports this module

        return cast(ServiceBusClient, DoubleClient(self, identity, elevated))

    # -- broker side -------------------------------------------------------------------------
    def enqueue(self, topic: str, message: Stored, visible_at: float | None = None) -> int:
        if topic not in self.accepted:
            raise MessagingEntityNotFoundError(message=f"topic {topic} does not exist")
        now = time.monotonic()
        seen_at = self._seen.get((topic, message.message_id))
        if seen_at is not None and now - seen_at < self.duplicate_window_s:
            return -1  # accepted by the broker and dropped, as duplicate detection does
        self._seen[(topic, message.message_id)] = now
        self._sequence += 1
        stored = replace(message, sequence_number=self._sequence, visible_at=visible_at or now)
        self.accepted[topic].append(stored)
        target = stored.properties.get(entities.TARGET_PROPERTY)
        for (t, name), entity in self.subscriptions.items():
            if t == topic and target in (None, name):
                entity.messages.append(replace(stored, properties=dict(stored.properties)))
        return self._sequence

    def cancel(self, topic: str, sequence_number: int) -> None:
        for (t, _), entity in self.subscriptions.items():
            if t == topic:
                entity.messages = [
                    m
                    for m in entity.messages
                    if not (m.sequence_number == sequence_number and m.visible_at > time.monotonic())
                ]

    def entity(self, topic: str, subscription: str, sub_queue: Any) -> Entity:
        key = (topic, subscription)
        if key not in self.subscriptions:
            raise MessagingEntityNotFoundError(message=f"subscription {topic}/{subscription} does not exist")
        return self.dead_letters[key] if sub_queue == ServiceBusSubQueue.DEAD_LETTER else self.subscriptions[key]

    def dead_letter(self, topic: str, subscription: str, message: Stored, reason: str, description: str) -> None:
        self.subscriptions[(topic, subscription)].messages.remove(message)
        message.lock_token, message.locked_until = None, 0.0
        message.dead_letter_reason, message.dead_letter_description = reason, description
        self.dead_letters[(topic, subscription)].messages.append(message)

    def take(self, topic: str, subscription: str, entity: Entity, count: int) -> list[Stored]:
        now = time.monotonic()
        out: list[Stored] = []
        for message in list(entity.messages):
            if len(out) >= count:
                break
            if message.visible_at > now or message.locked_until > now:
                continue
            if message.lock_token is not None:  # the lock lapsed: that delivery failed
                message.delivery_count += 1
                message.lock_token = None
                if message.delivery_count >= self.max_delivery_count and entity in self.subscriptions.values():
                    self.dead_letter(topic, subscription, message, "MaxDeliveryCountExceeded", "lock expired")
                    continue
            message.lock_token = uuid.uuid4()
            message.locked_until = now + self.lock_duration_s
            out.append(message)
        return out
