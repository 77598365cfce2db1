"""Broker-independent handling of one inbound message: validate, dispatch, decide the settlement.

Adapters (NATS today, Service Bus later) translate `Settlement` into their own ack / nak /
dead-letter calls, so every adapter treats bad input exactly the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from pydantic import ValidationError
from warden_contracts import reading
from warden_contracts import topology as topo
from warden_contracts.envelope import MAX_MESSAGE_BYTES, Envelope, derived_id, envelope_for
from warden_contracts.events import DeadLettered

from warden_bus import tracing
from warden_bus.metrics import observe_handler
from warden_bus.port import Handler, PoisonMessage, RetryLater, SubscriptionOptions

log = logging.getLogger("warden.bus")


class Verdict(Enum):
    ACK = "ack"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Settlement:
    verdict: Verdict
    reason: str = ""
    delay_s: float = 0.0
    envelope: Envelope | None = None


def backoff_seconds(deliveries: int) -> float:
    return float(min(30, 2 ** max(0, deliveries - 1)))


def _short(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()[:5])


def parse(topic: topo.Topic, raw: bytes) -> Envelope:
    """Raise PoisonMessage with a clear reason for anything that is not a valid message.

    A valid message is read in one pass (`reading`); anything that refuses is validated again
    the two-pass way, envelope first, whose errors name what is wrong."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise PoisonMessage(f"oversize: {len(raw)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    envelope = reading.read(raw, topic.payload)
    if envelope is not None and (topic.name == topo.DEADLETTER_TOPIC or envelope.type == topic.name):
        return envelope
    return parse_in_two_passes(topic, raw)


def parse_in_two_passes(topic: topo.Topic, raw: bytes) -> Envelope:
    """`parse` of a message within the size limit, validating the envelope and then its payload."""
    try:
        envelope = Envelope.from_bytes(raw)
    except ValidationError as err:
        raise PoisonMessage(f"malformed envelope: {_short(err)}") from None
    if not topic.name == topo.DEADLETTER_TOPIC and envelope.type != topic.name:
        raise PoisonMessage(f"wrong type: {envelope.type!r} published on {topic.name!r}")
    try:
        envelope.remember_payload(topic.payload.model_validate(envelope.data))
    except ValidationError as err:
        raise PoisonMessage(f"schema violation for {topic.name}: {_short(err)}") from None
    return envelope


async def settle(
    topic: topo.Topic,
    raw: bytes,
    deliveries: int,
    handler: Handler,
    options: SubscriptionOptions,
    headers: Mapping[str, str] | None = None,
    *,
    service: str = "",
) -> Settlement:
    """`headers` are the message's transport headers; their trace context parents the handler's span.
    `service` (the bus identity) labels the handler latency histogram."""
    started = time.perf_counter()
    settlement = await _settle(topic, raw, deliveries, handler, options, headers)
    observe_handler(service, topic.name, settlement.verdict.value, time.perf_counter() - started)
    return settlement


async def _settle(
    topic: topo.Topic,
    raw: bytes,
    deliveries: int,
    handler: Handler,
    options: SubscriptionOptions,
    headers: Mapping[str, str] | None,
) -> Settlement:
    try:
        envelope = parse(topic, raw)
    except PoisonMessage as err:
        settlement = Settlement(Verdict.DEAD_LETTER, str(err))
        with tracing.handling(topic.name, None, headers) as span:
            tracing.record_outcome(span, settlement.verdict.value, settlement.reason)
        return settlement
    with tracing.handling(topic.name, envelope, headers) as span:
        span.set_attribute("messaging.message.delivery_count", deliveries)
        settlement = await _dispatch(topic, envelope, deliveries, handler, options)
        tracing.record_outcome(span, settlement.verdict.value, settlement.reason)
    return settlement


async def _dispatch(
    topic: topo.Topic, envelope: Envelope, deliveries: int, handler: Handler, options: SubscriptionOptions
) -> Settlement:
    try:
        await handler(envelope)
        return Settlement(Verdict.ACK, envelope=envelope)
    except PoisonMessage as err:
        return Settlement(Verdict.DEAD_LETTER, str(err), envelope=envelope)
    except RetryLater as err:
        if deliveries >= options.max_deliveries:
            return Settlement(Verdict.DEAD_LETTER, f"gave up after {deliveries} deliveries: {err}", envelope=envelope)
        return Settlement(Verdict.RETRY, str(err), err.delay.total_seconds(), envelope)
    except Exception as err:
        log.exception("handler failed", extra={"topic": topic.name, "correlationid": envelope.correlationid})
        if deliveries >= options.max_deliveries:
            return Settlement(Verdict.DEAD_LETTER, f"handler failed {deliveries} times: {err!r}", envelope=envelope)
        return Settlement(Verdict.RETRY, repr(err), backoff_seconds(deliveries), envelope)


def dead_letter_envelope(
    service: str, topic: topo.Topic, raw: bytes, settlement: Settlement, deliveries: int, position: str
) -> Envelope:
    original = settlement.envelope
    payload = DeadLettered(
        service=service,
        topic=topic.name,
        reason=settlement.reason,
        deliveries=deliveries,
        original_id=original.id if original else None,
        original_text=raw[:4096].decode("utf-8", errors="replace"),
        original_size=len(raw),
    )
    return envelope_for(
        topo.DEADLETTER_TOPIC,
        payload,
        source=f"warden/{service}",
        correlationid=original.correlationid if original else f"deadletter:{position}",
        causationid=original.id if original else None,
        id=derived_id(position, f"deadletter/{service}"),
    )
