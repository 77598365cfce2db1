"""Inspect and re-drive a subscription's dead-letter sub-queue (what `warden servicebus dlq` runs).

A re-driven message goes back to the topic with a new `MessageId` (the original id is still inside
duplicate detection's window and would be dropped) and `warden_target` naming the subscription,
whose filter is the only one that keeps it: the topic's other consumers never see it twice.
The envelope inside is untouched, so handlers stay idempotent on its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.servicebus import ServiceBusMessage, ServiceBusReceivedMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from warden_contracts import topology as topo

from warden_bus.azure_servicebus import entities
from warden_bus.azure_servicebus.settlement import message_bytes

PREVIEW_CHARS = 200
MAX_MESSAGE_ID = 128


@dataclass(frozen=True)
class DeadLetter:
    sequence_number: int | None
    message_id: str | None
    reason: str | None
    description: str | None
    delivery_count: int | None
    preview: str


def _describe(msg: ServiceBusReceivedMessage) -> DeadLetter:
    return DeadLetter(
        sequence_number=msg.sequence_number,
        message_id=msg.message_id,
        reason=msg.dead_letter_reason,
        description=msg.dead_letter_error_description,
        delivery_count=msg.delivery_count,
        preview=message_bytes(msg)[:PREVIEW_CHARS].decode("utf-8", errors="replace"),
    )


def _check(topic: str, subscription: str) -> None:
    t = topo.topic(topic)
    if subscription not in (*t.consumers, *t.elevated_consumers):
        raise ValueError(
            f"{topic} has no subscription {subscription!r}; it has {[*t.consumers, *t.elevated_consumers]}"
        )


async def peek(client: ServiceBusClient, topic: str, subscription: str, max_count: int = 50) -> list[DeadLetter]:
    """Read without locking or removing anything."""
    _check(topic, subscription)
    receiver = client.get_subscription_receiver(
        topic_name=topic, subscription_name=subscription, sub_queue=ServiceBusSubQueue.DEAD_LETTER
    )
    async with receiver:
        return [_describe(m) for m in await receiver.peek_messages(max_message_count=max_count)]


def redriven_message(msg: ServiceBusReceivedMessage, subscription: str) -> ServiceBusMessage:
    original = msg.message_id or ""
    suffix = f"~redrive~{msg.sequence_number}"
    properties: dict[str | bytes, Any] = {
        entities.TARGET_PROPERTY: subscription,
        "warden_redriven_from": original,
    }
    return ServiceBusMessage(
        message_bytes(msg),
        message_id=original[: MAX_MESSAGE_ID - len(suffix)] + suffix,
        correlation_id=msg.correlation_id,
        subject=msg.subject,
        content_type=msg.content_type,
        application_properties=properties,
    )


async def redrive(
    client: ServiceBusClient, topic: str, subscription: str, max_count: int = 100, *, max_wait_s: float = 2.0
) -> list[DeadLetter]:
    """Move up to `max_count` dead letters back to the subscription; returns what was moved.

    Each one is sent before it is completed: a crash in between re-drives it twice, which the
    handlers absorb, rather than losing it."""
    _check(topic, subscription)
    moved: list[DeadLetter] = []
    receiver = client.get_subscription_receiver(
        topic_name=topic,
        subscription_name=subscription,
        sub_queue=ServiceBusSubQueue.DEAD_LETTER,
        receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
    )
    sender = client.get_topic_sender(topic_name=topic)
    async with receiver, sender:
        while len(moved) < max_count:
            batch = await receiver.receive_messages(
                max_message_count=min(50, max_count - len(moved)), max_wait_time=max_wait_s
            )
            if not batch:
                break
            for msg in batch:
                await sender.send_messages(redriven_message(msg, subscription))
                await receiver.complete_message(msg)
                moved.append(_describe(msg))
    return moved
