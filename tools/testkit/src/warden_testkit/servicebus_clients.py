"""The SDK-seam client, sender and receiver of `ServiceBusDouble` (see `testing`), for tests only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusReceiveMode
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus.exceptions import (
    MessageAlreadySettled,
    MessageLockLostError,
    MessageSizeExceededError,
    ServiceBusAuthorizationError,
)
from warden_contracts import topology as topo

from warden_testkit.servicebus import STANDARD_MAX_BYTES, ServiceBusDouble, Stored


def _ms(t: float) -> int:
    return int(t * 1000)


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
