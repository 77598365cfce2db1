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

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthorizationError,
)
from warden_contracts import topology as topo

from warden_bus.azure_servicebus import entities

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


def _ms(t: float) -> int:
    return int(t * 1000)


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


class DoubleClient:
    def __init__(self, namespace: ServiceBusDouble, identity: str | None, elevated: bool) -> None:
        self.namespace = namespace
        self.identity = identity
        self.elevated = elevated

    async def __aenter__(self) -> DoubleClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def get_topic_sender(self, topic_name: str, **_: Any) -> DoubleSender:
        if self.identity is not None and self.identity not in topo.topic(topic_name).producers:
            raise ServiceBusAuthorizationError(message=f"{self.identity} has no Data Sender role on {topic_name}")
        return DoubleSender(self.namespace, topic_name)

    def get_subscription_receiver(
        self, topic_name: str, subscription_name: str, *, sub_queue: Any = None, **kwargs: Any
    ) -> DoubleReceiver:
        t = topo.topic(topic_name)
        readers = (*t.consumers, *(t.elevated_consumers if self.elevated else ()))
        if self.identity is not None and (self.identity != subscription_name or self.identity not in readers):
            raise ServiceBusAuthorizationError(
                message=f"{self.identity} has no Data Receiver role on {topic_name}/subscriptions/{subscription_name}"
            )
        mode = kwargs.get("receive_mode", ServiceBusReceiveMode.PEEK_LOCK)
        return DoubleReceiver(self.namespace, topic_name, subscription_name, sub_queue, mode)

    async def close(self) -> None:
        return None


class DoubleSender:
    def __init__(self, namespace: ServiceBusDouble, topic: str) -> None:
        self.namespace = namespace
        self.topic = topic

    async def __aenter__(self) -> DoubleSender:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @staticmethod
    def _stored(message: ServiceBusMessage) -> Stored:
        body = b"".join(cast(Iterable[bytes], message.body))
        if len(body) > STANDARD_MAX_BYTES:
            raise MessageSizeExceededError(message=f"message of {len(body)} bytes exceeds {STANDARD_MAX_BYTES}")
        props = {str(k): v for k, v in (message.application_properties or {}).items()}
        return Stored(
            0,
            str(message.message_id or uuid.uuid4()),
            body,
            props,
            correlation_id=message.correlation_id,
            subject=message.subject,
            content_type=message.content_type,
        )

    async def send_messages(self, message: ServiceBusMessage | list[ServiceBusMessage], **_: Any) -> None:
        for m in message if isinstance(message, list) else [message]:
            self.namespace.enqueue(self.topic, self._stored(m))

    async def schedule_messages(self, message: ServiceBusMessage, at: datetime, **_: Any) -> list[int]:
        delay = max(0.0, (at - datetime.now(UTC)).total_seconds())
        return [self.namespace.enqueue(self.topic, self._stored(message), time.monotonic() + delay)]

    async def cancel_scheduled_messages(self, sequence_numbers: int | list[int], **_: Any) -> None:
        for n in sequence_numbers if isinstance(sequence_numbers, list) else [sequence_numbers]:
            self.namespace.cancel(self.topic, n)

    async def close(self) -> None:
        return None


class DoubleReceiver:
    def __init__(self, namespace: ServiceBusDouble, topic: str, subscription: str, sub_queue: Any, mode: Any) -> None:
        self.namespace = namespace
        self.topic = topic
        self.subscription = subscription
        self.entity = namespace.entity(topic, subscription, sub_queue)
        self.mode = mode
        # Read by the SDK's AutoLockRenewer to decide whether a lock is still worth renewing.
        self._running = True

    async def __aenter__(self) -> DoubleReceiver:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _received(self, m: Stored, *, peeked: bool = False) -> ServiceBusReceivedMessage:
        props: dict[str | bytes, Any] = {
            k.encode(): v.encode() if isinstance(v, str) else v for k, v in m.properties.items()
        }
        if m.dead_letter_reason is not None:
            props[b"DeadLetterReason"] = m.dead_letter_reason.encode()
            props[b"DeadLetterErrorDescription"] = (m.dead_letter_description or "").encode()
        annotations: dict[str | bytes, Any] = {b"x-opt-sequence-number": m.sequence_number}
        if not peeked:
            wall_until = time.time() + (m.locked_until - time.monotonic())
            annotations[b"x-opt-locked-until"] = _ms(wall_until)
        amqp = Message(
            header=Header(delivery_count=m.delivery_count),
            message_annotations=annotations,
            properties=Properties(
                message_id=m.message_id.encode(),
                correlation_id=m.correlation_id.encode() if m.correlation_id else None,
                subject=m.subject.encode() if m.subject else None,
                content_type=m.content_type.encode() if m.content_type else None,
            ),
            application_properties=props,
            data=[m.body],
        )
        # The transfer frame carries the lock token as the delivery tag (little-endian GUID).
        frame = None if peeked else cast(Any, (None, 0, cast(uuid.UUID, m.lock_token).bytes_le))
        return ServiceBusReceivedMessage(
            amqp,
            receive_mode=self.mode,
            frame=frame,
            receiver=self,
            is_peeked_message=peeked,
        )

    async def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[ServiceBusReceivedMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (max_wait_time if max_wait_time is not None else 60.0)
        while True:
            taken = self.namespace.take(self.topic, self.subscription, self.entity, max_message_count or 1)
            if taken or loop.time() >= deadline:
                break
            await asyncio.sleep(0.02)
        if self.mode == ServiceBusReceiveMode.RECEIVE_AND_DELETE:
            for m in taken:
                self.entity.messages.remove(m)
        return [self._received(m) for m in taken]

    async def peek_messages(self, max_message_count: int = 1, **_: Any) -> list[ServiceBusReceivedMessage]:
        return [self._received(m, peeked=True) for m in self.entity.messages[:max_message_count]]

    def _locked(self, msg: ServiceBusReceivedMessage) -> Stored:
        if msg._settled:  # the SDK's own settled flag
            raise MessageAlreadySettled(action="settle")
        for m in self.entity.messages:
            if m.lock_token == msg.lock_token and m.locked_until > time.monotonic():
                return m
        raise MessageLockLostError(message=f"lock for {msg.message_id} expired or was lost")

    @staticmethod
    def _settle(msg: ServiceBusReceivedMessage) -> None:
        msg._settled = True  # what the SDK's receiver sets after a disposition

    async def complete_message(self, msg: ServiceBusReceivedMessage) -> None:
        self.entity.messages.remove(self._locked(msg))
        self._settle(msg)

    async def abandon_message(self, msg: ServiceBusReceivedMessage) -> None:
        m = self._locked(msg)
        m.lock_token, m.locked_until = None, 0.0
        m.delivery_count += 1
        if (
            m.delivery_count >= self.namespace.max_delivery_count
            and self.entity in self.namespace.subscriptions.values()
        ):
            self.namespace.dead_letter(self.topic, self.subscription, m, "MaxDeliveryCountExceeded", "abandoned")
        self._settle(msg)

    async def dead_letter_message(
        self, msg: ServiceBusReceivedMessage, reason: str | None = None, error_description: str | None = None
    ) -> None:
        self.namespace.dead_letter(
            self.topic, self.subscription, self._locked(msg), reason or "", error_description or ""
        )
        self._settle(msg)

    async def renew_message_lock(self, msg: ServiceBusReceivedMessage, **_: Any) -> datetime:
        m = self._locked(msg)
        m.locked_until = time.monotonic() + self.namespace.lock_duration_s
        self.namespace.lock_renewals += 1
        expiry = datetime.fromtimestamp(time.time() + self.namespace.lock_duration_s, UTC)
        msg._expiry = expiry  # the SDK's receiver records the new expiry here
        return expiry

    async def close(self) -> None:
        self._running = False
