"""Settle one peek-locked Service Bus message with the broker-independent inbound policy.

ACK completes; RETRY abandons after the delay (the lock is renewed meanwhile, so no other receiver
takes it early); DEAD_LETTER publishes the audited `DeadLettered` event and then moves the
original to the subscription's dead-letter sub-queue with the reason, where the CLI can inspect
and re-drive it.

Why not a scheduled re-send for RETRY: a message scheduled on the topic fans out to every
subscription, and the consumer would need Data Sender on a topic it only reads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusReceiver
from azure.servicebus.amqp import AmqpMessageBodyType
from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope

from warden_bus.inbound import Settlement, Verdict, dead_letter_envelope, settle
from warden_bus.port import Handler, SubscriptionOptions

log = logging.getLogger("warden.bus")

PublishLetter = Callable[[Envelope], Awaitable[None]]
AbandonLater = Callable[[ServiceBusReceiver, ServiceBusReceivedMessage, float], None]
# Service Bus keeps the reason in an application property; keep it readable, not unbounded.
MAX_REASON_CHARS = 1024


def message_bytes(msg: ServiceBusReceivedMessage) -> bytes:
    if msg.body_type is AmqpMessageBodyType.DATA:
        return b"".join(msg.body)
    # A value or sequence body was not written by a Warden producer; let `parse` reject it.
    return repr(msg.body).encode()


def headers_of(msg: ServiceBusReceivedMessage) -> dict[str, str]:
    """Application properties as text headers (they carry the producer's trace context)."""

    def text(value: object) -> str:
        return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)

    return {text(k): text(v) for k, v in (msg.application_properties or {}).items()}


def deliveries_of(msg: ServiceBusReceivedMessage) -> int:
    # The AMQP header counts earlier failed deliveries; the port counts this one too.
    return (msg.delivery_count or 0) + 1


async def settle_received(
    identity: str,
    topic: topo.Topic,
    receiver: ServiceBusReceiver,
    msg: ServiceBusReceivedMessage,
    handler: Handler,
    options: SubscriptionOptions,
    publish_letter: PublishLetter,
    abandon_later: AbandonLater,
) -> Settlement:
    raw = message_bytes(msg)
    deliveries = deliveries_of(msg)
    settlement = await settle(topic, raw, deliveries, handler, options, headers_of(msg), service=identity)
    if settlement.verdict is Verdict.ACK:
        await receiver.complete_message(msg)
    elif settlement.verdict is Verdict.RETRY:
        abandon_later(receiver, msg, settlement.delay_s)
    else:
        position = f"{topic.name}/{identity}:{msg.sequence_number}"
        letter = dead_letter_envelope(identity, topic, raw, settlement, deliveries, position)
        log.warning("dead-lettered %s: %s", position, settlement.reason, extra={"correlationid": letter.correlationid})
        # Published first: if the process dies in between, the redelivery republishes the same
        # letter id and duplicate detection keeps audit to one record.
        await publish_letter(letter)
        await receiver.dead_letter_message(
            msg,
            reason=settlement.reason[:MAX_REASON_CHARS],
            error_description=f"{identity} dead-lettered after {deliveries} deliveries; letter {letter.id}",
        )
    return settlement
